/**
 * `flap-webgpu/node`: the library in Node, where WebGPU comes from Dawn (the `webgpu` package, which the
 * application installs beside this one; without a GPU set `VK_ICD_FILENAMES` to a software Vulkan such as
 * SwiftShader). Everything of the browser entry, plus what only Node has: files read from disk on demand.
 *
 * @example
 * import { loadFlap, modelFromFolder } from 'flap-webgpu/node';
 * const flap = await loadFlap(await modelFromFolder('models/flap-mini'));
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from './errors';
import type { ModelSource } from './flap';
import type { KernelManifest } from './ops/kernels';
import { fileSource } from './weights/node';

export * from './index';
export { fileSource } from './weights/node';
export { defaultTuningFile, fileTuningStore } from './ops/tune_file';

/**
 * A model folder on disk as a `ModelSource`: `config.json`, `weights.safetensors` (read tensor by tensor, never
 * whole), and `head_asset.safetensors` and `kernels.json` when present. Rejects with `InputError` naming a missing file.
 */
export async function modelFromFolder(dir: string): Promise<ModelSource> {
  const file = (name: string) => join(dir, name);
  let config: unknown;
  try {
    config = JSON.parse(await readFile(file('config.json'), 'utf8'));
  } catch (e) {
    throw new InputError('config', `${file('config.json')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const headAsset = await readFile(file('head_asset.safetensors')).then((b) => new Uint8Array(b), () => undefined);
  const kernels = await readFile(file('kernels.json'), 'utf8').then((t) => JSON.parse(t) as KernelManifest, () => undefined);
  return {
    config: config as Record<string, unknown>,
    weights: await fileSource(file('weights.safetensors')),
    ...(headAsset ? { headAsset } : {}),
    ...(kernels ? { kernels } : {}),
  };
}
