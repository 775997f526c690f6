// The activation functions, defined once for every kernel (PyTorch's formulas).

// erf by Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below the f32 resolution of a GELU output.
fn erf(v: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(v));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-v * v);
  return select(-y, y, v >= 0.0);
}

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

fn gelu(v: f32) -> f32 {
  return 0.5 * v * (1.0 + erf(v * 0.7071067811865476));
}

// tanh's argument is clamped: some backends return NaN for huge ones.
fn gelu_tanh(v: f32) -> f32 {
  let u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0);
  return 0.5 * v * (1.0 + tanh(u));
}

fn relu(v: f32) -> f32 {
  return max(v, 0.0);
}
