import { LimitExceededError, SafetensorsError } from '../../src/errors';
import type { FlapDevice } from '../../src/runtime/device';
import { bf16ArrayToF16, f16ArrayToF32, f32ArrayToF16 } from '../../src/runtime/half';
import { serialize, toFloat32, type TensorToWrite } from '../../src/weights/safetensors';
import { loadToDevice } from '../../src/weights/load';
import { assert, assertClose, assertEqual, assertThrows, randomArray, rng } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { repoBytes } from '../harness/fixtures';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';

function weights(): Record<string, TensorToWrite> {
  const random = rng(7);
  const w = randomArray(48, random).map((x) => x * 3);
  return {
    f32: { dtype: 'F32', shape: [6, 8], data: w },
    f16: { dtype: 'F16', shape: [5, 3], data: f32ArrayToF16(randomArray(15, random)) },
    // bf16 bits of f32 values: the top half of each f32 word (truncation), odd length on purpose.
    bf16: { dtype: 'BF16', shape: [7], data: Uint16Array.from(new Uint32Array(randomArray(7, random).map((x) => x * 100).buffer), (u) => u >>> 16) },
    f64: { dtype: 'F64', shape: [2, 2], data: Float64Array.of(1.25, -3.5, 1e-3, 12345.678) },
    scalar: { dtype: 'F32', shape: [], data: Float32Array.of(42) },
  };
}

const raw = (t: TensorToWrite) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

async function check(keepF16: boolean, got: Map<string, import('../../src/runtime/tensor').Tensor>): Promise<void> {
  const want = weights();
  assertEqual([...got.keys()].sort().join(), Object.keys(want).sort().join(), 'names');
  for (const [name, w] of Object.entries(want)) {
    const t = got.get(name)!;
    assertEqual(t.shape.join(), w.shape.join(), `${name} shape`);
    const half = keepF16 && (w.dtype === 'F16' || w.dtype === 'BF16');
    assertEqual(t.dtype, half ? 'f16' : 'f32', `${name} dtype`);
    let expected = toFloat32(w.dtype, raw(w));
    // BF16 kept as f16 is rounded to f16 on upload; compare against that exact rounding.
    if (half && w.dtype === 'BF16') expected = f16ArrayToF32(bf16ArrayToF16(w.data as Uint16Array));
    if (w.dtype === 'F64') expected = Float32Array.from(w.data as Float64Array);
    assertClose(await t.read(), expected, { atol: 0, rtol: 0, label: name });
  }
}

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) return c.close();
      c.enqueue(bytes.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
}

export const cases: Cases = {
  'uploads F32, F16, BF16, F64 from a buffer (f16 kept, and all as f32)': async ({ device }) => {
    const file = serialize(weights(), { format: 'pt' });
    for (const keepF16 of [true, false]) {
      const got = await loadToDevice(device, file, { keepF16 });
      await check(keepF16, got);
      for (const t of got.values()) t.release();
    }
  },

  'uploads from a ReadableStream as tensors arrive, with progress and a name subset': async ({ device }) => {
    const file = serialize(weights());
    const progress: number[] = [];
    const got = await loadToDevice(device, streamOf(file, 7), { onProgress: (l, total) => (assertEqual(total, file.length, 'total'), progress.push(l)) });
    await check(true, got);
    for (const t of got.values()) t.release();
    assertEqual(progress.at(-1), file.length, 'final progress');
    const some = await loadToDevice(device, streamOf(file, 1000), { names: ['bf16', 'f32'] });
    assertEqual([...some.keys()].sort().join(), 'bf16,f32', 'subset');
    for (const t of some.values()) t.release();
    await assertThrows(() => loadToDevice(device, streamOf(file, 64), { names: ['nope'] }), SafetensorsError, /"nope": not in the file/);
  },

  'releases what was uploaded when a later tensor fails': async ({ device }) => {
    const before = device.stats.bytesInUse;
    const w = weights();
    // Data order puts "f32" first, then an integer tensor the GPU loader refuses.
    const file = serialize({ f32: w.f32!, ids: { dtype: 'I32', shape: [3], data: Int32Array.of(1, 2, 3) } });
    await assertThrows(() => loadToDevice(device, file), SafetensorsError, /"ids": dtype I32 is not a GPU weight/);
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after a refused integer tensor');
    const full = serialize(w);
    await assertThrows(() => loadToDevice(device, streamOf(full.subarray(0, full.length - 5), 13)), SafetensorsError, /stream ended early/);
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after a truncated stream');
    // Leaving the integer out by name loads the rest.
    const ok = await loadToDevice(device, file, { names: ['f32'] });
    assert(ok.size === 1, 'f32 alone loads');
    ok.get('f32')!.release();
  },

  'refuses a tensor larger than one storage binding, naming the limit': async ({ device }) => {
    // A view of the device with a tiny binding limit: the refusal happens before any allocation.
    const small = Object.create(device, {
      info: { value: { ...device.info, limits: { ...device.info.limits, maxStorageBufferBindingSize: 64 } } },
    }) as FlapDevice;
    const before = device.stats.bytesInUse;
    const w = weights();
    await assertThrows(() => loadToDevice(small, serialize({ f32: w.f32! })), LimitExceededError, /maxStorageBufferBindingSize \(64\)/);
    // The 4-byte scalar is uploaded first, then the 192-byte tensor is refused: the scalar must be released.
    await assertThrows(() => loadToDevice(small, serialize({ s: w.scalar!, f32: w.f32! })), LimitExceededError);
    assertEqual(device.stats.bytesInUse, before, 'nothing left allocated');
  },
  'the shipped flap-mini takes at most 1.1x its f16 file on the GPU, and gives it all back': async ({ device, where, log }) => {
    const [config, weights] = await Promise.all(['config.json', 'weights.safetensors'].map((f) => repoBytes(`models/flap-mini/${f}`, where)));
    if (!config || !weights) throw new Error('models/flap-mini is missing');
    const before = device.stats.bytesInUse;
    const model = await FlapModel.load(device, parseConfig(JSON.parse(new TextDecoder().decode(config))), weights);
    await device.sync();
    const ratio = (device.stats.bytesInUse - before) / weights.byteLength;
    log(`flap-mini: ${(weights.byteLength / 1e6).toFixed(2)} MB file, ${((device.stats.bytesInUse - before) / 1e6).toFixed(2)} MB on the GPU (${ratio.toFixed(3)}x)`);
    model.release();
    assert(ratio <= 1.1, `flap-mini takes ${ratio.toFixed(3)}x its file on the GPU`);
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after release');
  },
};
