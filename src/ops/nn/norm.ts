import source from '../../../shaders/nn/norm.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Group-norm (channels last) and layer-norm, one kernel: statistics per (row, group), f32, two passes. */
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

export function selectVariant(silu: boolean, valuesPerGroup: number, cpuBacked: boolean): NormSpec {
  // CPU adapters pay for every barrier: a small workgroup; GPUs want enough lanes for long groups.
  const WG = cpuBacked || valuesPerGroup <= 64 ? 32 : 128;
  return { SILU: silu, WG };
}

function run(x: Tensor, weight: Tensor, bias: Tensor, rows: number, pixels: number, groups: number, eps: number, silu: boolean): Tensor {
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
  const spec = selectVariant(silu, pixels * (channels / groups), device.info.isCpuBacked);
  const max = device.info.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(items, max);
  device.run(normKernel, spec, {
    inputs: [x, weight, bias],
    outputs: [out],
    uniforms: { rows, pixels, channels, groups, group_size: channels / groups, eps },
    workgroups: [gx, Math.ceil(items / gx)],
  });
  return out;
}

/**
 * GroupNorm over x [N, ...spatial, C] (channels last): `groups` groups of C / groups channels, statistics
 * over the spatial positions and the group's channels; per-channel affine; `silu` fuses x·sigmoid(x).
 *
 * @example
 * const h = groupNorm(x, norm1.weight, norm1.bias, 32, 1e-5, { silu: true }); // x [2, 16, 16, 320]
 */
export function groupNorm(x: Tensor, weight: Tensor, bias: Tensor, groups: number, eps: number, options: { silu?: boolean } = {}): Tensor {
  if (x.rank < 2) throw new ShapeError(`groupNorm: input needs rank >= 2 (got [${x.shape.join(', ')}])`);
  const channels = x.shape[x.rank - 1]!;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new ShapeError(`groupNorm: ${channels} channels do not split into ${groups} groups`);
  }
  const pixels = x.shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return run(x, weight, bias, x.shape[0]!, pixels, groups, eps, options.silu ?? false);
}

/** LayerNorm over the last dimension of x [..., C], per-channel affine. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number, options: { silu?: boolean } = {}): Tensor {
  if (x.rank < 1) throw new ShapeError('layerNorm: input needs rank >= 1');
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return run(x, weight, bias, rows, 1, 1, eps, options.silu ?? false);
}
