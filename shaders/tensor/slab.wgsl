//! params: WG
// Copies a slab along one axis: with both tensors viewed as [outer, axis, inner],
// out[o, out_start + j, i] = x[o, in_start + j, i] for j < length. Concatenation writes each input at its
// offset; slicing reads a range.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.x + gid.y * groups.x * {{WG}}u;
  if (e >= params.count) {
    return;
  }
  let i = e % params.inner;
  let rest = e / params.inner;
  let j = rest % params.length;
  let o = rest / params.length;
  out[(o * params.out_axis + params.out_start + j) * params.inner + i] = x[(o * params.in_axis + params.in_start + j) * params.inner + i];
}
