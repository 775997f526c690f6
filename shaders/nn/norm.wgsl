//! params: SILU, WG
// Group-norm and layer-norm in one kernel: one workgroup normalises one (row, group) of x [rows, pixels, C]
// (channels last), i.e. pixels × group_size values at x[row, p, g·group_size + j]. Layer-norm is pixels = 1,
// one group of all C channels. Statistics in f32, two passes (a shifted mean, then the mean squared
// deviation), so inputs with a large mean keep their precision. Then the per-channel affine and, with SILU, x·sigmoid(x).
{{BINDINGS}}
#include activation

var<workgroup> partial: array<f32, {{WG}}>;

fn index(row: u32, g: u32, e: u32) -> u32 {
  let p = e / params.group_size;
  let c = g * params.group_size + e % params.group_size;
  return (row * params.pixels + p) * params.channels + c;
}

fn reduce(v: f32, lane: u32) -> f32 {
  partial[lane] = v;
  workgroupBarrier();
  for (var s = {{WG}}u / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      partial[lane] = partial[lane] + partial[lane + s];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
  let item = wid.x + wid.y * groups.x;
  if (item >= params.rows * params.groups) {
    return;
  }
  let row = item / params.groups;
  let g = item % params.groups;
  let n = params.pixels * params.group_size;
  // Summing x - shift (any member of the group) keeps the mean exact to f32 even when |mean| >> spread.
  let shift = x[index(row, g, 0u)];
  var s = 0.0;
  for (var e = lane; e < n; e += {{WG}}u) {
    s += x[index(row, g, e)] - shift;
  }
  let mean = shift + reduce(s, lane) / f32(n);
  var q = 0.0;
  for (var e = lane; e < n; e += {{WG}}u) {
    let d = x[index(row, g, e)] - mean;
    q += d * d;
  }
  let inv = inverseSqrt(reduce(q, lane) / f32(n) + params.eps);
  for (var e = lane; e < n; e += {{WG}}u) {
    let i = index(row, g, e);
    let c = g * params.group_size + e % params.group_size;
    var y = (x[i] - mean) * inv * weight[c] + bias[c];
#if SILU
    y = silu(y);
#endif
    out[i] = y;
  }
}
