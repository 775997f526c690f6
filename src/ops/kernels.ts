/**
 * Every kernel of the runtime by name, and kernel manifests: the specialisations a model used, recorded once
 * (`recordKernels`) and compiled ahead of the next use (`prepareKernels`) with `createComputePipelineAsync`
 * while the weights stream, so the first frame does not wait for synchronous shader compiles (on SwiftShader a
 * mini generation compiles a few dozen pipelines, some taking seconds).
 */
import type { FlapDevice } from '../runtime/device';
import type { KernelDef } from '../runtime/kernel';
import type { Spec } from '../runtime/template';
import { binaryKernel } from './math/binary';
import { matmulKernel } from './math/matmul';
import { unaryKernel } from './math/unary';
import { attentionKernel } from './nn/attention';
import { conv2dKernel } from './nn/conv2d';
import { conv2dTiledKernel } from './nn/conv2d_tiled';
import { normGroupKernel, normKernel } from './nn/norm';
import { softmaxKernel } from './nn/softmax';
import { timestepEmbeddingKernel } from './nn/timestep_embedding';
import { guidePackKernel } from './render/guide_pack';
import { headNormalsKernel } from './render/head_normals';
import { headPoseKernel } from './render/head_pose';
import { cfgStepKernel } from './sampler/cfg_step';
import { castKernel } from './tensor/cast';
import { permuteKernel } from './tensor/permute';
import { slabKernel } from './tensor/slab';
import { upsampleKernel } from './tensor/upsample';

export const KERNELS: Readonly<Record<string, KernelDef<any>>> = Object.fromEntries(
  [
    binaryKernel, unaryKernel, matmulKernel, attentionKernel, conv2dKernel, conv2dTiledKernel, normKernel, normGroupKernel, softmaxKernel,
    timestepEmbeddingKernel, guidePackKernel, headNormalsKernel, headPoseKernel, cfgStepKernel, castKernel, permuteKernel,
    slabKernel, upsampleKernel,
  ].map((def) => [def.name, def]),
);

/** Specialisations a model used on one kind of adapter (`cpu`: CPU-backed such as SwiftShader, else `gpu`). */
export interface KernelManifest {
  adapter: 'cpu' | 'gpu';
  kernels: { name: string; spec: Spec }[];
}

const adapterKind = (device: FlapDevice): KernelManifest['adapter'] => (device.info.isCpuBacked ? 'cpu' : 'gpu');

/** The specialisations `device` has compiled so far, as a manifest (JSON-safe). */
export function recordKernels(device: FlapDevice): KernelManifest {
  return { adapter: adapterKind(device), kernels: device.pipelines.specializations().map(({ def, spec }) => ({ name: def.name, spec: { ...spec } })) };
}

/**
 * Compiles a manifest's kernels asynchronously. Entries for another kind of adapter, unknown kernels and
 * specialisations the device cannot build (features it lacks) are skipped; a failed compile is not an error
 * here (the kernel would compile, or fail with its own error, when first run). Resolves to the number compiled.
 */
export async function prepareKernels(device: FlapDevice, manifest: KernelManifest | undefined): Promise<number> {
  if (!manifest || manifest.adapter !== adapterKind(device) || !Array.isArray(manifest.kernels)) return 0;
  const usable = manifest.kernels.filter(({ name, spec }) => {
    if (!(name in KERNELS) || typeof spec !== 'object' || spec === null) return false;
    const subgroups = spec.SUBGROUPS === true || (name === 'attention' && spec.VARIANT === 'subgroup');
    return !subgroups || device.info.features.subgroups;
  });
  const results = await Promise.allSettled(usable.map(({ name, spec }) => device.prepare(KERNELS[name]!, spec)));
  return results.filter((r) => r.status === 'fulfilled').length;
}
