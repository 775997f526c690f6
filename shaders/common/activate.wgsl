// The fused epilogue activation that the kernel's ACT parameter names (src/ops/activation.ts).
#include activation

fn activate(v: f32) -> f32 {
#if ACT == silu
  return silu(v);
#elif ACT == gelu
  return gelu(v);
#elif ACT == gelu_tanh
  return gelu_tanh(v);
#elif ACT == relu
  return relu(v);
#elif ACT == none
  return v;
#endif
}

fn activate4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}
