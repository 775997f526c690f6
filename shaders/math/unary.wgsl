//! params: OP, WG
// out = f(x) element-wise: silu x·sigmoid(x), gelu (erf form), gelu_tanh, relu, log (natural); or GEGLU, where each row of
// x [rows, 2d] gives out [rows, d] = x[:, :d] · gelu(x[:, d:]) (diffusers' order: value half first).
{{BINDINGS}}
#include elementwise
#include activation

fn apply(v: f32) -> f32 {
#if OP == silu
  return silu(v);
#elif OP == gelu_tanh
  return gelu_tanh(v);
#elif OP == relu
  return relu(v);
#elif OP == log
  return log(v);
#else
  return gelu(v);
#endif
}

fn item(i: u32) {
#if OP == geglu
  let row = i / params.half;
  let j = i % params.half;
  let base = row * 2u * params.half;
  out[i] = x[base + j] * gelu(x[base + params.half + j]);
#else
  out[i] = apply(x[i]);
#endif
}
