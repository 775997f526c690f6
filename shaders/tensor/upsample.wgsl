//! params: WG
// Nearest-neighbour ×2 upsampling of x [N, H, W, C] (channels last) to [N, 2H, 2W, C].
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
  let c = i % params.channels;
  let pixel = i / params.channels;
  let ow = pixel % (2u * params.width);
  let rest = pixel / (2u * params.width);
  let oh = rest % (2u * params.height);
  let n = rest / (2u * params.height);
  out[i] = x[((n * params.height + oh / 2u) * params.width + ow / 2u) * params.channels + c];
}
