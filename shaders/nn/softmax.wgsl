//! params: WG
// Softmax over the last axis of x [rows, n], one thread per row: the maximum, then the sum of exp(x − max),
// then the normalised values (three passes over the row, all in f32). One thread per row suits CPU-backed
// adapters (no barriers) and the short rows the model has; rows are independent, so any row count works.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = gid.x + gid.y * groups.x * {{WG}}u;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.n;
  var m = x[base];
  for (var i = 1u; i < params.n; i++) {
    m = max(m, x[base + i]);
  }
  var sum = 0.0;
  for (var i = 0u; i < params.n; i++) {
    sum += exp(x[base + i] - m);
  }
  let inv = 1.0 / sum;
  for (var i = 0u; i < params.n; i++) {
    out[base + i] = exp(x[base + i] - m) * inv;
  }
}
