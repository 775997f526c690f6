//! params: OP, RANK, WG
// out = a OP b over a shape of rank <= 8. With RANK > 0, each operand is read through its own strides (0 along
// broadcast dimensions) over the last RANK dimensions of the uniforms (the host merges the dimensions that
// it can, and the loop is unrolled); with RANK 0, all three are contiguous and of one shape.
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
#if RANK == 0
  out[i] = apply(a[i], b[i]);
#else
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  #for $k < RANK unroll
    let d = 7u - $k;
    let dim = params.shape[d / 4u][d % 4u];
    let c = rest % dim;
    rest = rest / dim;
    ia += c * params.a_strides[d / 4u][d % 4u];
    ib += c * params.b_strides[d / 4u][d % 4u];
  #endfor
  out[i] = apply(a[ia], b[ib]);
#endif
}
