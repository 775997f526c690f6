//! params: OP, BROADCAST, WG
// out = a OP b over a shape of rank <= 8. With BROADCAST, each operand is read through its own strides
// (0 along broadcast dimensions); without, all three are contiguous and of one shape.
{{BINDINGS}}
#include elementwise

fn apply(x: f32, y: f32) -> f32 {
#if OP == add
  return x + y;
#elif OP == sub
  return x - y;
#elif OP == mul
  return x * y;
#elif OP == div
  return x / y;
#elif OP == max
  return max(x, y);
#elif OP == min
  return min(x, y);
#endif
}

fn item(i: u32) {
#if BROADCAST
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = 7; d >= 0; d--) {
    let dim = params.shape[d / 4][d % 4];
    let c = rest % dim;
    rest = rest / dim;
    ia += c * params.a_strides[d / 4][d % 4];
    ib += c * params.b_strides[d / 4][d % 4];
  }
  out[i] = apply(a[ia], b[ib]);
#else
  out[i] = apply(a[i], b[i]);
#endif
}
