//! params: WG
// out = x transposed by a permutation, rank <= 6 (padded with leading 1s): for each output index, its
// coordinates (out_shape) are dotted with in_strides, the input's strides reordered by the permutation.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * {{WG}}u;
  if (i >= params.count) {
    return;
  }
  var rest = i;
  var src = 0u;
  for (var d = 5; d >= 0; d--) {
    let size = params.out_shape[d / 4][d % 4];
    src += (rest % size) * params.in_strides[d / 4][d % 4];
    rest = rest / size;
  }
  out[i] = x[src];
}
