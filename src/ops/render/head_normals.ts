import source from '../../../shaders/render/head_normals.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import type { Tensor } from '../../runtime/tensor';
import { uniformSchema } from '../../runtime/uniforms';

/** Vertex normals of a posed mesh (the head renderer's second pass). */
export type HeadNormalsSpec = { readonly WG: number };

export const headNormalsUniforms = uniformSchema({ count: 'u32' });

export const headNormalsKernel = defineKernel({
  name: 'head_normals',
  source,
  uniforms: headNormalsUniforms,
  bindings: () => [read('posed', 'vec4<f32>'), read('faces', 'u32'), read('ring_start', 'u32'), read('ring', 'u32'), write('normals', 'vec4<f32>')],
});

const WG = 64;

export function selectVariant(): HeadNormalsSpec {
  return { WG };
}

/**
 * The triangles around each vertex as a CSR list, built once: `faces` [F·3] vertex ids → `ringStart` [N + 1]
 * and `ring` (triangle ids), so each vertex sums its own triangles (no float atomics to scatter with).
 */
export function triangleRings(faces: Uint32Array, vertices: number): { ringStart: Uint32Array; ring: Uint32Array } {
  const ringStart = new Uint32Array(vertices + 1);
  for (const v of faces) ringStart[v + 1]!++;
  for (let i = 0; i < vertices; i++) ringStart[i + 1]! += ringStart[i]!;
  const ring = new Uint32Array(faces.length);
  const fill = ringStart.slice(0, vertices);
  faces.forEach((v, i) => {
    ring[fill[v]!++] = Math.floor(i / 3);
  });
  return { ringStart, ring };
}

/**
 * Writes the unit normals of `posed` ([N, 4]) into `normals` ([N, 4]). `faces`, `ringStart` and `ring` hold
 * u32 bits (uploaded from Uint32Arrays, see `triangleRings`) and are bound as u32 arrays.
 */
export function headNormals(posed: Tensor, faces: Tensor, ringStart: Tensor, ring: Tensor, normals: Tensor): void {
  const count = posed.size / 4;
  if (normals.size !== posed.size || ringStart.size !== count + 1) {
    throw new ShapeError(`head_normals: ${count} posed vertices need [${count}, 4] normals and ${count + 1} ring starts`);
  }
  const device = posed.device;
  device.run(headNormalsKernel, selectVariant(), {
    inputs: [posed, faces, ringStart, ring],
    outputs: [normals],
    uniforms: { count },
    workgroups: flatDispatch(count, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
}
