/** Input preparation and validation (CPU only): audio, images, coefficient files. */
import { describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav';
import { InputError } from '../../src/errors';
import { parseCoefficients } from '../../src/io/coeffs';
import { prepareAudio } from '../../src/io/audio';
import { cropResize, imageHeaderSize, prepareImage } from '../../src/io/image';
import { serialize } from '../../src/weights/safetensors';

const tone = (seconds: number, rate: number, amp = 0.3) => Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => amp * Math.sin((2 * Math.PI * 220 * i) / rate));

describe('audio', () => {
  it('down-mixes and resamples WAV and raw samples to 16 kHz', async () => {
    const stereo = encodeWav({ sampleRate: 44100, channels: [tone(1, 44100), tone(1, 44100)] });
    expect((await prepareAudio(stereo)).length).toBe(16000);
    expect((await prepareAudio({ samples: tone(0.5, 48000), sampleRate: 48000 })).length).toBe(8000);
  });

  it.each([
    ['empty bytes', new Uint8Array(0), /empty/],
    ['too short', { samples: tone(0.1, 16000), sampleRate: 16000 }, /at least 0.2 s/],
    ['silent', { samples: new Float32Array(16000), sampleRate: 16000 }, /silent/],
    ['NaN samples', { samples: Float32Array.from(tone(1, 16000), (v, i) => (i === 500 ? NaN : v)), sampleRate: 16000 }, /not finite/],
    ['odd rate', { samples: tone(1, 4000), sampleRate: 4000 }, /8–192 kHz/],
    ['too long', { samples: new Float32Array(8000 * 601), sampleRate: 8000 }, /limit/],
    ['not WAV, outside a browser', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), /only WAV/],
  ] as const)('refuses %s with an InputError', async (_, input, message) => {
    await expect(prepareAudio(input as never)).rejects.toThrow(InputError);
    await expect(prepareAudio(input as never)).rejects.toThrow(message);
  });
});

describe('image', () => {
  const rgba = (w: number, h: number, f: (x: number, y: number) => number) => {
    const d = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set([f(x, y), f(x, y), f(x, y), 255], (y * w + x) * 4);
    return { data: d, width: w, height: h };
  };

  it('centre-crops to the model aspect and area-averages to its size, in [-1, 1]', async () => {
    // 300x200, left 50 px black, right 50 px black, middle white: the centre 200x200 crop is all white.
    const img = rgba(300, 200, (x) => (x >= 50 && x < 250 ? 255 : 0));
    const out = await prepareImage(img, 64, 64);
    expect(out.length).toBe(64 * 64 * 3);
    expect(Math.min(...out)).toBeCloseTo(1, 5);
    // A 2x2 checker shrunk by 2 is uniform grey.
    const checker = cropResize(rgba(4, 4, (x, y) => ((x + y) % 2) * 255), { x: 0, y: 0, width: 4, height: 4 }, 2, 2);
    for (const v of checker) expect(v).toBeCloseTo(0, 5);
  });

  it('reads sizes from headers and refuses huge, corrupt or mis-boxed images before decoding', async () => {
    const png = new Uint8Array(33);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    new DataView(png.buffer).setUint32(16, 10000);
    new DataView(png.buffer).setUint32(20, 10000);
    expect(imageHeaderSize(png)).toEqual({ width: 10000, height: 10000, format: 'png' });
    await expect(prepareImage(png, 64, 64)).rejects.toThrow(/too large/);
    await expect(prepareImage(new Uint8Array([1, 2, 3]), 64, 64)).rejects.toThrow(/unsupported or corrupt/);
    await expect(prepareImage(new Uint8Array(0), 64, 64)).rejects.toThrow(/empty/);
    const img = rgba(100, 100, () => 128);
    await expect(prepareImage(img, 64, 64, { x: 50, y: 50, width: 80, height: 80 })).rejects.toThrow(/not inside/);
    await expect(prepareImage(img, 64, 64, { x: NaN, y: 0, width: 10, height: 10 })).rejects.toThrow(InputError);
    await expect(prepareImage({ data: new Uint8ClampedArray(10), width: 100, height: 100 }, 64, 64)).rejects.toThrow(/does not match/);
  });
});

describe('coefficient files', () => {
  const rows = Array.from({ length: 3 }, (_, f) => Array.from({ length: 120 }, (_, i) => f + i / 1000));
  const flat = Float32Array.from(rows.flat());

  it('reads JSON, CSV, .npy and safetensors alike', () => {
    const enc = new TextEncoder();
    const npyHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 120), }";
    const pad = 64 - ((10 + npyHeader.length + 1) % 64);
    const header = enc.encode(npyHeader + ' '.repeat(pad) + '\n');
    const npy = new Uint8Array(10 + header.length + flat.byteLength);
    npy.set([0x93, ...enc.encode('NUMPY'), 1, 0]);
    new DataView(npy.buffer).setUint16(8, header.length, true);
    npy.set(header, 10);
    npy.set(new Uint8Array(flat.buffer), 10 + header.length);
    const st = serialize({ coefficients: { dtype: 'F32', shape: [3, 120], data: flat } });
    for (const [name, bytes] of [
      ['a.json', enc.encode(JSON.stringify(rows))],
      ['b.json', enc.encode(JSON.stringify({ coefficients: rows }))],
      ['c.csv', enc.encode(rows.map((r) => r.join(',')).join('\n'))],
      ['d.npy', npy],
      ['e.safetensors', st],
    ] as const) {
      const got = parseCoefficients(name, bytes);
      expect(got.frames, name).toBe(3);
      expect(Array.from(got.data)).toEqual(Array.from(flat));
    }
  });

  it('refuses the wrong width, non-finite values and unknown formats', () => {
    const enc = new TextEncoder();
    expect(() => parseCoefficients('x.json', enc.encode('[[1,2,3]]'))).toThrow(/120/);
    expect(() => parseCoefficients('x.csv', enc.encode(Array(120).fill('nan').join(',')))).toThrow(InputError);
    expect(() => parseCoefficients('x.txt', enc.encode('1'))).toThrow(/unknown format/);
    expect(() => parseCoefficients('x.json', enc.encode('{'))).toThrow(/invalid JSON/);
  });
});
