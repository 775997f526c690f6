import source from '../../../shaders/render/guide_pack.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Guide texels (rgba16float rows copied to a buffer) → box-filtered RGB images, channels last. */
export type GuidePackSpec = { readonly WG: number };

export const guidePackUniforms = uniformSchema({ count: 'u32', size: 'u32', ss: 'u32', row_words: 'u32' });

export const guidePackKernel = defineKernel({ name: 'guide_pack', source, uniforms: guidePackUniforms, bindings: () => [read('texels', 'u32'), write('out')] });

const WG = 64;

export function selectVariant(): GuidePackSpec {
  return { WG };
}

/**
 * `texels` holds `frames` images of (size · ss)² rgba16float texels, each row `rowWords` u32 words long (two
 * words a texel, padded rows allowed) → [frames, size, size, 3] f32, each output pixel the mean of its ss × ss
 * block.
 */
export function guidePack(texels: Tensor, frames: number, size: number, ss: number, rowWords: number): Tensor {
  if (rowWords < 2 * size * ss) throw new ShapeError(`guide_pack: rows of ${rowWords} words cannot hold ${size * ss} texels`);
  if (texels.byteLength < frames * size * ss * rowWords * 4) throw new ShapeError(`guide_pack: ${texels.byteLength} bytes hold fewer than ${frames} images`);
  const device = texels.device;
  const out = device.tensor([frames, size, size, 3], 'f32');
  const count = frames * size * size;
  if (count === 0) return out;
  device.run(guidePackKernel, selectVariant(), {
    inputs: [texels],
    outputs: [out],
    uniforms: { count, size, ss, row_words: rowWords },
    workgroups: flatDispatch(count, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
