//! params: OP, WG
// out = f(x) element-wise: silu x·sigmoid(x), gelu (erf form), gelu_tanh, relu, log (natural); or GEGLU, where each row of
// x [rows, 2d] gives out [rows, d] = x[:, :d] · gelu(x[:, d:]) (diffusers' order: value half first).
{{BINDINGS}}
#include elementwise
#include activation

fn item(i: u32) {
#if OP == geglu
  let row = i / params.half;
  let j = i % params.half;
  let base = row * 2u * params.half;
  out[i] = x[base + j] * gelu(x[base + params.half + j]);
#else
  out[i] = {{OP}}(x[i]); // shaders/common/activation.wgsl, or WGSL's log
#endif
}
