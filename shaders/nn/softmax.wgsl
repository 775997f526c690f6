//! params: WG
// Softmax over the last axis of x [rows, n], one thread per row: the maximum, then the sum of exp(x − max),
// then the normalised values (three passes over the row, all in f32). One thread per row suits CPU-backed
// adapters (no barriers) and the short rows the model has; rows are independent, so any row count works.
{{BINDINGS}}
#include elementwise

fn item(row: u32) {
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
