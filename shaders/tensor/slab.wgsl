//! params: WG
// Copies a slab along one axis: with both tensors viewed as [outer, axis, inner],
// out[o, out_start + j, i] = x[o, in_start + j, i] for j < length. Concatenation writes each input at its
// offset; slicing reads a range.
{{BINDINGS}}
#include elementwise

fn item(e: u32) {
  let i = e % params.inner;
  let rest = e / params.inner;
  let j = rest % params.length;
  let o = rest / params.length;
  out[(o * params.out_axis + params.out_start + j) * params.inner + i] = x[(o * params.in_axis + params.in_start + j) * params.inner + i];
}
