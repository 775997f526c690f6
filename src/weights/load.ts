/**
 * Uploads safetensors weights to the GPU (DESIGN §3: weights stay f16 on the GPU). F32 → f32; F16 → f16
 * as-is; BF16 → f16 bits; F64 → f32. With `keepF16: false`, F16/BF16 become f32. Integer and BOOL tensors
 * are not GPU weights: they are refused with an error naming them (pass `names` to leave them out).
 *
 * A tensor larger than one storage binding (`maxStorageBufferBindingSize`) is refused with a
 * `LimitExceededError` naming the limit rather than split: no FLAP weight comes near 128 MiB.
 * Each tensor is uploaded as soon as its bytes are read, so the file is never held whole (the next tensor is read while one uploads); if anything fails,
 * every tensor already uploaded is released.
 */
import { LimitExceededError, SafetensorsError } from '../errors';
import type { FlapDevice } from '../runtime/device';
import { bf16ArrayToF16, f16ArrayToF32, bf16BitsToF32 } from '../runtime/half';
import type { DType, Tensor } from '../runtime/tensor';
import { readSafetensorsStream, SafetensorsReader, bufferSource, typedView, type ByteSource, type Progress, type RawTensor } from './safetensors';
import { ShardedReader } from './sharded';

export interface LoadOptions {
  /** Only these tensors (all others are skipped); each must exist. */
  names?: readonly string[];
  /** Keep F16/BF16 as f16 on the GPU (default true). */
  keepF16?: boolean;
  onProgress?: Progress;
  /** Applied to each tensor's bytes on the CPU before upload (a re-layout, say); its result is uploaded (copied) before the next call, so it may reuse one buffer. */
  transform?: (t: RawTensor) => RawTensor;
}

export type WeightInput = Uint8Array | ArrayBuffer | ByteSource | ReadableStream<Uint8Array> | SafetensorsReader | ShardedReader;

/** The GPU dtype and data for one tensor. */
export function gpuData(t: RawTensor, keepF16: boolean): { dtype: DType; data: Float32Array | Uint16Array } {
  const where = `tensor ${JSON.stringify(t.name)}`;
  const v = typedView(t.dtype, t.bytes);
  switch (t.dtype) {
    case 'F32':
      return { dtype: 'f32', data: v as Float32Array };
    case 'F64':
      return { dtype: 'f32', data: Float32Array.from(v as Float64Array) };
    case 'F16':
      return keepF16 ? { dtype: 'f16', data: v as Uint16Array } : { dtype: 'f32', data: f16ArrayToF32(v as Uint16Array) };
    case 'BF16':
      return keepF16 ? { dtype: 'f16', data: bf16ArrayToF16(v as Uint16Array) } : { dtype: 'f32', data: Float32Array.from(v as Uint16Array, bf16BitsToF32) };
    default:
      throw new SafetensorsError(where, `dtype ${t.dtype} is not a GPU weight type (read it on the CPU with typedView, or leave it out via names)`);
  }
}

function upload(device: FlapDevice, t: RawTensor, keepF16: boolean): Tensor {
  const { dtype, data } = gpuData(t, keepF16);
  const bytes = data.length * (dtype === 'f32' ? 4 : 2);
  const limit = device.info.limits.maxStorageBufferBindingSize;
  if (bytes > limit) {
    throw new LimitExceededError(`tensor ${JSON.stringify(t.name)} needs ${bytes} bytes as ${dtype}, more than maxStorageBufferBindingSize (${limit}); split it in the checkpoint`);
  }
  return device.weight(t.shape, dtype, data, t.name).keep();
}

export async function loadToDevice(device: FlapDevice, input: WeightInput, options: LoadOptions = {}): Promise<Map<string, Tensor>> {
  const keepF16 = options.keepF16 ?? true;
  const transform = options.transform ?? ((t: RawTensor) => t);
  const out = new Map<string, Tensor>();
  let opened: SafetensorsReader | undefined;
  const wanted = options.names ? new Set(options.names) : undefined;
  try {
    if (input instanceof ReadableStream) {
      await readSafetensorsStream(input, (t) => void out.set(t.name, upload(device, transform(t), keepF16)), {
        names: wanted,
        onProgress: options.onProgress,
        onHeader: (h) => {
          for (const n of wanted ?? []) if (!h.byName.has(n)) throw new SafetensorsError(`tensor ${JSON.stringify(n)}`, 'not in the file');
        },
      });
      return out;
    }
    let reader: SafetensorsReader | ShardedReader;
    if (input instanceof SafetensorsReader || input instanceof ShardedReader) reader = input;
    else reader = opened = await SafetensorsReader.open(input instanceof Uint8Array || input instanceof ArrayBuffer ? bufferSource(input) : input);
    const names = options.names ?? reader.names;
    const sizes = names.map((n) => {
      const r = reader instanceof ShardedReader ? reader.shardOf(n) : reader;
      const i = r.info(n);
      return i.end - i.begin;
    });
    const total = sizes.reduce((a, b) => a + b, 0);
    let loaded = 0;
    options.onProgress?.(0, total);
    // One tensor read ahead: the file read (Node: on libuv's threads) overlaps this one's re-layout and upload.
    // Reads alternate between two buffers, grown as needed and reused, since touching fresh memory for each of
    // thousands of tensors cost as much as the reading (each tensor is uploaded, copied, before its buffer's reuse).
    const buffers = [new Uint8Array(0), new Uint8Array(0)];
    const read = (i: number) => {
      if (buffers[i % 2]!.byteLength < sizes[i]!) buffers[i % 2] = new Uint8Array(sizes[i]!);
      return reader.tensor(names[i]!, buffers[i % 2]);
    };
    let next: Promise<RawTensor> | undefined = names.length ? read(0) : undefined;
    try {
      for (let i = 0; i < names.length; i++) {
        const current = await next!;
        next = i + 1 < names.length ? read(i + 1) : undefined;
        out.set(names[i]!, upload(device, transform(current), keepF16));
        loaded += sizes[i]!;
        options.onProgress?.(loaded, total);
      }
    } finally {
      await next?.catch(() => undefined); // settled before the file closes; its error, if any, is moot
    }
    return out;
  } catch (e) {
    for (const t of out.values()) t.release();
    throw e;
  } finally {
    await opened?.close(); // a file handle the caller handed over is not left to the garbage collector
  }
}
