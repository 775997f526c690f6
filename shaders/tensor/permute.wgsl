//! params: WG
// out = x transposed by a permutation, rank <= 6 (padded with leading 1s): for each output index, its
// coordinates (out_shape) are dotted with in_strides, the input's strides reordered by the permutation.
{{BINDINGS}}
#include elementwise

fn item(i: u32) {
  var rest = i;
  var src = 0u;
  for (var d = 5; d >= 0; d--) {
    let size = params.out_shape[d / 4][d % 4];
    src += (rest % size) * params.in_strides[d / 4][d % 4];
    rest = rest / size;
  }
  out[i] = x[src];
}
