import { uniformSchema } from '../../runtime/uniforms';

/** The geometry both conv2d kernels read (conv2d.wgsl and conv2d_tiled.wgsl). */
export const conv2dUniforms = uniformSchema({
  pixels: 'u32',
  cin: 'u32',
  cout: 'u32',
  groups: 'u32',
  in_h: 'u32',
  in_w: 'u32',
  out_h: 'u32',
  out_w: 'u32',
  kh: 'u32',
  kw: 'u32',
  stride_h: 'u32',
  stride_w: 'u32',
  dil_h: 'u32',
  dil_w: 'u32',
  pad_top: 'u32',
  pad_left: 'u32',
  bias_stride: 'u32',
});
