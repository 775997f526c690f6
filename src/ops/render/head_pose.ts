import source from '../../../shaders/render/head_pose.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import type { Tensor } from '../../runtime/tensor';
import { uniformSchema, type UniformValues } from '../../runtime/uniforms';

/** Poses the head asset's vertices for one frame of coefficients (the head renderer's first pass). */
export type HeadPoseSpec = { readonly WG: number };

/** Rotations as 3x3 matrices (column by column), pivots (w = 1), expression then eyelid weights, vertices. */
export const headPoseUniforms = uniformSchema({
  jaw: 'mat3x3<f32>',
  eye_left: 'mat3x3<f32>',
  eye_right: 'mat3x3<f32>',
  global: 'mat3x3<f32>',
  jaw_pivot: 'vec4<f32>',
  eye_left_pivot: 'vec4<f32>',
  eye_right_pivot: 'vec4<f32>',
  neck_pivot: 'vec4<f32>',
  weights: 'array<vec4<f32>, 26>',
  count: 'u32',
});

export type HeadPose = Omit<UniformValues<typeof headPoseUniforms.fields>, 'count'>;

export const headPoseKernel = defineKernel({
  name: 'head_pose',
  source,
  uniforms: headPoseUniforms,
  bindings: () => [read('template_pos'), read('expr_basis'), read('eyelid_basis'), read('skin', 'vec4<f32>'), write('posed', 'vec4<f32>')],
});

const WG = 64;

export function selectVariant(): HeadPoseSpec {
  return { WG };
}

/** The asset's mesh as the pose pass reads it: [N, 3] template, [100, N, 3] and [2, N, 3] bases, [N, 4] skin. */
export interface PoseMesh {
  template: Tensor;
  exprBasis: Tensor;
  eyelidBasis: Tensor;
  /** Per vertex: jaw weight, neck weight, eye id (0 none, 1 left, 2 right), 0. */
  skin: Tensor;
}

/** Writes the posed vertices of `mesh` into `posed` ([N, 4], w = 1). */
export function headPose(mesh: PoseMesh, pose: HeadPose, posed: Tensor): void {
  const count = mesh.template.size / 3;
  if (posed.size !== 4 * count || mesh.skin.size !== 4 * count || mesh.exprBasis.size !== 300 * count || mesh.eyelidBasis.size !== 6 * count) {
    throw new ShapeError(`head_pose: a mesh of ${count} vertices needs [${count}, 4] skin and output, [100, ${count}, 3] and [2, ${count}, 3] bases`);
  }
  const device = posed.device;
  device.run(headPoseKernel, selectVariant(), {
    inputs: [mesh.template, mesh.exprBasis, mesh.eyelidBasis, mesh.skin],
    outputs: [posed],
    uniforms: { ...pose, count },
    workgroups: flatDispatch(count, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
}
