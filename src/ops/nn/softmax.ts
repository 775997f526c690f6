import source from '../../../shaders/nn/softmax.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Softmax over the last axis (the model's attention never materialises scores; this is for heads and tools). */
export type SoftmaxSpec = { readonly WG: number };

export const softmaxUniforms = uniformSchema({ count: 'u32', n: 'u32' });

export const softmaxKernel = defineKernel({ name: 'softmax', source, uniforms: softmaxUniforms, bindings: () => [read('x'), write('out')] });

const WG = 64;

export function selectVariant(): SoftmaxSpec {
  return { WG };
}

/**
 * exp(x − max) / Σ exp(x − max) along the last axis of an f32 tensor; the shape is kept.
 *
 * @example
 * const p = softmax(logits); // [B, classes]: each row sums to 1
 */
export function softmax(x: Tensor): Tensor {
  if (x.dtype !== 'f32' || x.rank < 1) throw new ShapeError(`softmax: input must be f32 with at least one axis (got [${x.shape.join(', ')}] ${x.dtype})`);
  const n = x.shape[x.rank - 1]!;
  const device = x.device;
  const out = device.tensor(x.shape, 'f32');
  if (out.size === 0) return out;
  const rows = out.size / n;
  device.run(softmaxKernel, selectVariant(), {
    inputs: [x],
    outputs: [out],
    uniforms: { count: rows, n },
    workgroups: flatDispatch(rows, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
