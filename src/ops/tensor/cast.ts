import source from '../../../shaders/tensor/cast.wgsl?raw';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { DType, Tensor } from '../../runtime/tensor';

/** Copy with dtype conversion between f32 and packed f16 (f16 is unpacked with `unpack2x16float`). */
export type CastSpec = {
  readonly SRC: DType;
  readonly DST: DType;
  readonly WG: number;
};

/** `count`: items (words when writing f16, elements otherwise); `elements`: values converted. */
export const castUniforms = uniformSchema({ count: 'u32', elements: 'u32' });

export const castKernel = defineKernel({ name: 'cast', source, uniforms: castUniforms, bindings: (spec: CastSpec) => [read('src', spec.SRC === 'f16' ? 'u32' : 'f32'), write('dst', spec.DST === 'f16' ? 'u32' : 'f32')] });

const WG = 256;

export function selectVariant(src: DType, dst: DType): CastSpec {
  return { SRC: src, DST: dst, WG };
}

/** A new tensor with `x`'s values in `dtype` (a plain copy when the dtypes agree). */
export function cast(x: Tensor, dtype: DType): Tensor {
  const device = x.device;
  const out = device.tensor(x.shape, dtype);
  const elements = x.size;
  if (elements === 0) return out;
  // Writing f16, one thread packs a pair of elements.
  const threads = dtype === 'f16' ? Math.ceil(elements / 2) : elements;
  device.run(castKernel, selectVariant(x.dtype, dtype), {
    inputs: [x],
    outputs: [out],
    uniforms: { count: threads, elements },
    workgroups: flatDispatch(threads, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** A contiguous copy of `x`. */
export const copy = (x: Tensor) => cast(x, x.dtype);
