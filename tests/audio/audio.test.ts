import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { decodeWav, encodeWav } from '../../src/audio/wav';
import { downmix, resample } from '../../src/audio/resample';

function tone(freq: number, rate: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => 0.5 * Math.sin((2 * Math.PI * freq * i) / rate));
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! ** 2;
  return Math.sqrt(s / Math.max(1, to - from));
}

describe('[node] WAV', () => {
  it('[node] round-trips 16-bit PCM, stereo, and keeps the rate', () => {
    const l = tone(440, 22050, 0.1);
    const r = tone(220, 22050, 0.1);
    const back = decodeWav(encodeWav({ sampleRate: 22050, channels: [l, r] }));
    expect(back.sampleRate).toBe(22050);
    expect(back.channels.length).toBe(2);
    back.channels[1]!.forEach((v, i) => expect(Math.abs(v - r[i]!)).toBeLessThan(1 / 16000));
  });

  it('[node] reads 8, 24 and 32-bit PCM and float samples', () => {
    const make = (format: number, bits: number, write: (v: DataView, at: number) => void) => {
      const b = new Uint8Array(44 + bits / 8);
      const v = new DataView(b.buffer);
      [...'RIFF'].forEach((c, i) => v.setUint8(i, c.charCodeAt(0)));
      v.setUint32(4, 36 + bits / 8, true);
      [...'WAVEfmt '].forEach((c, i) => v.setUint8(8 + i, c.charCodeAt(0)));
      v.setUint32(16, 16, true);
      v.setUint16(20, format, true);
      v.setUint16(22, 1, true);
      v.setUint32(24, 16000, true);
      v.setUint32(28, 16000 * (bits / 8), true);
      v.setUint16(32, bits / 8, true);
      v.setUint16(34, bits, true);
      [...'data'].forEach((c, i) => v.setUint8(36 + i, c.charCodeAt(0)));
      v.setUint32(40, bits / 8, true);
      write(v, 44);
      return decodeWav(b).channels[0]![0]!;
    };
    expect(make(1, 8, (v, at) => v.setUint8(at, 192))).toBeCloseTo(0.5, 6);
    expect(make(1, 24, (v, at) => { v.setUint8(at, 0); v.setUint8(at + 1, 0); v.setInt8(at + 2, -64); })).toBeCloseTo(-0.5, 6);
    expect(make(1, 32, (v, at) => v.setInt32(at, 1 << 30, true))).toBeCloseTo(0.5, 6);
    expect(make(3, 32, (v, at) => v.setFloat32(at, -0.25, true))).toBeCloseTo(-0.25, 6);
  });

  it('[node] refuses what it cannot decode with an InputError', () => {
    expect(() => decodeWav(new Uint8Array(10))).toThrow(InputError);
    const good = encodeWav({ sampleRate: 16000, channels: [new Float32Array(8)] });
    const noData = good.slice(0, 36);
    expect(() => decodeWav(noData)).toThrow(/no data chunk/);
    const alaw = good.slice();
    new DataView(alaw.buffer).setUint16(20, 6, true);
    expect(() => decodeWav(alaw)).toThrow(/format 6/);
  });
});

describe('[node] resampling', () => {
  it('[node] keeps a 1 kHz tone from 48 kHz to 16 kHz and removes a 12 kHz one', () => {
    const keep = resample(tone(1000, 48000, 0.2), 48000, 16000);
    expect(keep.length).toBe(3200);
    expect(rms(keep, 200, 3000)).toBeCloseTo(0.5 / Math.SQRT2, 2);
    const alias = resample(tone(12000, 48000, 0.2), 48000, 16000);
    expect(rms(alias, 200, 3000)).toBeLessThan(0.005);
  });

  it('[node] upsamples 8 kHz to 16 kHz', () => {
    const up = resample(tone(500, 8000, 0.1), 8000, 16000);
    expect(up.length).toBe(1600);
    const ref = tone(500, 16000, 0.1);
    for (let i = 200; i < 1400; i++) expect(Math.abs(up[i]! - ref[i]!)).toBeLessThan(0.01);
  });

  it('[node] down-mixes channels by averaging', () => {
    expect([...downmix([Float32Array.of(1, 0), Float32Array.of(0, 1)])]).toEqual([0.5, 0.5]);
    expect(() => downmix([])).toThrow(InputError);
  });
});
