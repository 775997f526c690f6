// Both conv2d kernels' epilogue: out[o] = act(v + bias) + residual, o = pixel · Cout + co, for image n. The bias
// is shared ([Cout]) or per image ([N, Cout], bias_stride = Cout); BIAS and RESIDUAL say which operands exist.
#include activate

fn conv_store(v_in: f32, n: u32, co: u32, o: u32) {
  var v = v_in;
#if BIAS
  v += bias[n * params.bias_stride + co];
#endif
  v = activate(v);
#if RESIDUAL
  v += residual[o];
#endif
  out[o] = v;
}
