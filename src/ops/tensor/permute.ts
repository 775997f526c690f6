import source from '../../../shaders/tensor/permute.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Axis permutation (a copy), rank <= 6: `permute(x, [0, 2, 3, 1])` turns NCHW into NHWC. */
export type PermuteSpec = { readonly WG: number };

export const permuteUniforms = uniformSchema({
  count: 'u32',
  out_shape: 'array<vec4<u32>, 2>',
  in_strides: 'array<vec4<u32>, 2>',
});

export const permuteKernel = defineKernel({ name: 'permute', source, uniforms: permuteUniforms, bindings: () => [read('x'), write('out')] });

const WG = 256;
const MAX_RANK = 6;

export function selectVariant(): PermuteSpec {
  return { WG };
}

/** out.shape[i] = x.shape[axes[i]]. */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank;
  if (axes.length !== rank || [...axes].sort((a, b) => a - b).some((a, i) => a !== i)) {
    throw new ShapeError(`permute: [${axes.join(', ')}] is not a permutation of ${rank} axes`);
  }
  if (rank > MAX_RANK) throw new ShapeError(`permute: rank ${rank} exceeds ${MAX_RANK}`);
  if (x.dtype !== 'f32') throw new ShapeError(`permute: input must be f32 (got ${x.dtype})`);
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= x.shape[d]!;
  }
  const outShape = axes.map((a) => x.shape[a]!);
  const device = x.device;
  const out = device.tensor(outShape, 'f32');
  if (out.size === 0) return out;
  const pad = MAX_RANK - rank;
  const padded = <T>(v: T[], fill: T) => [...new Array<T>(pad).fill(fill), ...v, ...new Array<T>(8 - MAX_RANK).fill(fill)];
  device.run(permuteKernel, selectVariant(), {
    inputs: [x],
    outputs: [out],
    uniforms: {
      count: out.size,
      out_shape: padded(outShape, 1),
      in_strides: padded(axes.map((a) => strides[a]!), 0),
    },
    workgroups: flatDispatch(out.size, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
