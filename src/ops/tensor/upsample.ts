import source from '../../../shaders/tensor/upsample.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Nearest ×2 upsampling, channels last. */
export type UpsampleSpec = { readonly WG: number };

export const upsampleUniforms = uniformSchema({ count: 'u32', height: 'u32', width: 'u32', channels: 'u32' });

export const upsampleKernel = defineKernel({ name: 'upsample', source, uniforms: upsampleUniforms, bindings: () => [read('x'), write('out')] });

const WG = 256;

export function selectVariant(): UpsampleSpec {
  return { WG };
}

/** x [N, H, W, C] → [N, 2H, 2W, C], each pixel repeated 2×2. */
export function upsampleNearest2x(x: Tensor): Tensor {
  if (x.rank !== 4 || x.dtype !== 'f32') throw new ShapeError(`upsample: expected f32 [N, H, W, C] (got [${x.shape.join(', ')}] ${x.dtype})`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const device = x.device;
  const out = device.tensor([n, 2 * h, 2 * w, c], 'f32');
  if (out.size === 0) return out;
  device.run(upsampleKernel, selectVariant(), {
    inputs: [x],
    outputs: [out],
    uniforms: { count: out.size, height: h, width: w, channels: c },
    workgroups: flatDispatch(out.size, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
