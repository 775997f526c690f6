/**
 * Loading safetensors weights into any Module (or a sub-tree of a larger checkpoint, by prefix): the tensor
 * table is checked against the module's parameters (names and shapes, strictly, every problem named) before
 * anything is uploaded; then 1-D parameters (norms, biases) are widened to f32, linear weights stay as stored
 * (f16 stays f16 unless `keepF16: false`), and every module derives what it needs from them once
 * (`Module.prepareAll`: re-laid convolutions, folded weight norms, tables). The one loader of the library, its
 * command line and its tests. On any error nothing stays allocated. From a stream (which cannot seek) the whole file is uploaded and checked
 * afterwards; from bytes, a ByteSource or a reader only the prefix's tensors are read, after the check.
 */
import { cast } from '../ops/tensor/cast';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { loadToDevice, type WeightInput } from '../weights/load';
import { permuteRaw } from '../weights/permute';
import { bufferSource, SafetensorsReader, type Progress, type RawTensor } from '../weights/safetensors';
import { ShardedReader } from '../weights/sharded';
import { assignStateDict, checkStateDict, type Module } from './module';

export interface LoadModuleOptions {
  /** Only the file's tensors under this prefix (e.g. `unet.`), with the prefix stripped; default: all. */
  prefix?: string;
  /** Keep F16/BF16 linear and conv weights as f16 on the GPU (default true). */
  keepF16?: boolean;
  /** Names (after stripping the prefix) that may be in the file without a parameter; they are not uploaded. */
  ignore?: (name: string) => boolean;
  onProgress?: Progress;
}

/** Checks, uploads and prepares `module`'s weights from a safetensors file (bytes, a source or a reader). */
export async function loadModuleWeights(device: FlapDevice, module: Module, weights: WeightInput, options: LoadModuleOptions = {}): Promise<void> {
  const prefix = options.prefix ?? '';
  const ignore = options.ignore ?? (() => false);
  // A reader lets the table be checked before any byte of data is read (streams cannot seek: they go whole).
  let reader: SafetensorsReader | ShardedReader | undefined;
  let opened: SafetensorsReader | undefined;
  if (weights instanceof SafetensorsReader || weights instanceof ShardedReader) reader = weights;
  else if (!(weights instanceof ReadableStream)) {
    reader = opened = await SafetensorsReader.open(weights instanceof Uint8Array || weights instanceof ArrayBuffer ? bufferSource(weights) : weights);
  }
  try {
    let names: string[] | undefined;
    if (reader) {
      const r = reader;
      const entries = new Map<string, { shape: readonly number[]; dtype: string }>();
      for (const name of r.names) {
        if (!name.startsWith(prefix)) continue;
        const info = r instanceof ShardedReader ? r.shardOf(name).info(name) : r.info(name);
        entries.set(name.slice(prefix.length), { shape: info.shape, dtype: info.dtype });
      }
      checkStateDict(module, entries, ignore);
      names = [...entries.keys()].filter((n) => !ignore(n)).map((n) => prefix + n);
    }
    // Parameters stored in another layout than the file's (convolution weights) are re-laid on the CPU here.
    const relayouts = new Map(module.namedParameters().flatMap(([name, p]) => (p.relayout ? [[prefix + name, p.relayout] as const] : [])));
    const fileShapes = new Map<string, readonly number[]>();
    // One scratch buffer for every re-laid weight: loadToDevice uploads (copies) each before the next.
    let scratch = new Uint8Array(0);
    const transform = (t: RawTensor): RawTensor => {
      fileShapes.set(t.name, t.shape);
      const perm = relayouts.get(t.name);
      if (!perm) return t;
      if (scratch.byteLength < t.bytes.byteLength) scratch = new Uint8Array(t.bytes.byteLength);
      return permuteRaw(t, perm, scratch);
    };
    const loaded = await loadToDevice(device, reader ?? weights, { names, keepF16: options.keepF16 ?? true, onProgress: options.onProgress, transform });
    // A stream cannot skip ahead: everything was uploaded, so what lies outside the prefix is dropped now.
    const tensors = new Map<string, Tensor>();
    for (const [name, t] of loaded) {
      if (name.startsWith(prefix)) tensors.set(name.slice(prefix.length), t);
      else t.release();
    }
    const owned = new Map<string, Tensor>();
    try {
      if (!reader) checkStateDict(module, new Map([...tensors].map(([n, t]) => [n, { shape: fileShapes.get(prefix + n)!, dtype: t.dtype }])), ignore);
      for (const [name, t] of tensors) {
        if (ignore(name)) {
          t.release();
          continue;
        }
        // Norm affines and biases are tiny and read by f32-only kernels: widen them once here.
        if (t.rank === 1 && t.dtype === 'f16') {
          owned.set(name, cast(t, 'f32').keep());
          t.release();
        } else owned.set(name, t);
      }
      assignStateDict(module, owned);
      await module.prepareAll(device);
    } catch (e) {
      for (const t of [...tensors.values(), ...owned.values()]) t.release();
      module.release();
      throw e;
    }
  } finally {
    await opened?.close();
  }
}
