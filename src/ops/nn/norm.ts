import source from '../../../shaders/nn/norm.wgsl?raw';
import groupSource from '../../../shaders/nn/norm_group.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/**
 * Group-norm (channels last) and layer-norm: statistics per (row, group) in f32, then the per-channel affine
 * and an optional SiLU. Variants: `fused`, one workgroup per (row, group) reducing through workgroup memory
 * (GPUs); `thread`, one thread per (row, group) without barriers (norm_group.wgsl; CPU-backed adapters, where
 * every barrier is costly).
 */
export type NormVariant = 'fused' | 'thread';

export type NormSpec = {
  readonly SILU: boolean;
  readonly WG: number;
};

export const normUniforms = uniformSchema({
  rows: 'u32',
  pixels: 'u32',
  channels: 'u32',
  groups: 'u32',
  group_size: 'u32',
  eps: 'f32',
});

export const normKernel = defineKernel({ name: 'norm', source, uniforms: normUniforms, bindings: () => [read('x'), read('weight'), read('bias'), write('out')] });

/** `thread`: `count` row-groups. */
export const normGroupUniforms = uniformSchema({
  count: 'u32',
  pixels: 'u32',
  channels: 'u32',
  groups: 'u32',
  group_size: 'u32',
  eps: 'f32',
});

export type NormGroupSpec = { readonly VEC: 1 | 4; readonly SILU: boolean; readonly WG: number };

const vecType = (vec: number) => (vec === 4 ? 'vec4<f32>' : 'f32');

export const normGroupKernel = defineKernel({
  name: 'norm_group',
  source: groupSource,
  uniforms: normGroupUniforms,
  bindings: (spec: NormGroupSpec) => [read('x', vecType(spec.VEC)), read('weight'), read('bias'), write('out', vecType(spec.VEC))],
});

export function selectVariant(silu: boolean, valuesPerGroup: number, cpuBacked: boolean): NormSpec {
  // CPU adapters pay for every barrier: a small workgroup; GPUs want enough lanes for long groups.
  const WG = cpuBacked || valuesPerGroup <= 64 ? 32 : 128;
  return { SILU: silu, WG };
}

/**
 * Measured on SwiftShader (CPU time of the process, 2 cores shared with training; the fused kernel's barriers
 * cost most of its time), thread against fused: group-norm + SiLU sd15 [1, 32, 32, 320] / 32 groups 2.1x
 * faster, [1, 8, 8, 1280] 3.8x, mini [20, 16, 16, 48] / 16 5x, [20, 4, 4, 160] 5x; layer-norm [1024, 320]
 * 7x, [1280, 96] 15x. An element-wise second pass fed by per-channel affines was no faster, even with 32
 * row-groups: 8 threads a workgroup keep both cores busy.
 */
const GROUP_WG = 8;

function run(x: Tensor, weight: Tensor, bias: Tensor, rows: number, pixels: number, groups: number, eps: number, silu: boolean, variant?: NormVariant): Tensor {
  const channels = x.shape[x.rank - 1]!;
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p.dtype !== 'f32' || p.rank !== 1 || p.shape[0] !== channels) {
      throw new ShapeError(`norm: ${name} must be f32 [${channels}] (got [${p.shape.join(', ')}] ${p.dtype})`);
    }
  }
  if (x.dtype !== 'f32') throw new ShapeError(`norm: input must be f32 (got ${x.dtype})`);
  const device = x.device;
  const out = device.tensor(x.shape, 'f32');
  const items = rows * groups;
  if (items === 0 || pixels === 0) return out;
  const groupSize = channels / groups;
  const max = device.info.limits.maxComputeWorkgroupsPerDimension;
  if ((variant ?? (device.info.isCpuBacked ? 'thread' : 'fused')) === 'fused') {
    const spec = selectVariant(silu, pixels * groupSize, device.info.isCpuBacked);
    const gx = Math.min(items, max);
    device.run(normKernel, spec, {
      inputs: [x, weight, bias],
      outputs: [out],
      uniforms: { rows, pixels, channels, groups, group_size: groupSize, eps },
      workgroups: [gx, Math.ceil(items / gx)],
    });
    return out;
  }
  device.run(normGroupKernel, { VEC: groupSize % 4 === 0 ? 4 : 1, SILU: silu, WG: GROUP_WG }, {
    inputs: [x, weight, bias],
    outputs: [out],
    uniforms: { count: items, pixels, channels, groups, group_size: groupSize, eps },
    workgroups: flatDispatch(items, GROUP_WG, max),
  });
  return out;
}

export interface NormOptions {
  /** Fuse x·sigmoid(x) after the affine. */
  silu?: boolean;
  /** Force a variant (tests, benchmarks); by default `split` on CPU-backed adapters, `fused` elsewhere. */
  variant?: NormVariant;
}

/**
 * GroupNorm over x [N, ...spatial, C] (channels last): `groups` groups of C / groups channels, statistics
 * over the spatial positions and the group's channels; per-channel affine; `silu` fuses x·sigmoid(x).
 *
 * @example
 * const h = groupNorm(x, norm1.weight, norm1.bias, 32, 1e-5, { silu: true }); // x [2, 16, 16, 320]
 */
export function groupNorm(x: Tensor, weight: Tensor, bias: Tensor, groups: number, eps: number, options: NormOptions = {}): Tensor {
  if (x.rank < 2) throw new ShapeError(`groupNorm: input needs rank >= 2 (got [${x.shape.join(', ')}])`);
  const channels = x.shape[x.rank - 1]!;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new ShapeError(`groupNorm: ${channels} channels do not split into ${groups} groups`);
  }
  const pixels = x.shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return run(x, weight, bias, x.shape[0]!, pixels, groups, eps, options.silu ?? false, options.variant);
}

/** LayerNorm over the last dimension of x [..., C], per-channel affine. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number, options: NormOptions = {}): Tensor {
  if (x.rank < 1) throw new ShapeError('layerNorm: input needs rank >= 1');
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return run(x, weight, bias, rows, 1, 1, eps, options.silu ?? false, options.variant);
}
