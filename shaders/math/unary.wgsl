//! params: OP, WG
// out = f(x) element-wise: silu x·sigmoid(x), gelu (erf form), gelu_tanh, relu, log (natural); or GEGLU, where each row of
// x [rows, 2d] gives out [rows, d] = x[:, :d] · gelu(x[:, d:]) (diffusers' order: value half first).
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// erf by Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below f32 resolution of the GELU output.
fn erf_approx(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(v) * (1.0 - poly * exp(-a * a));
}

fn gelu(v: f32) -> f32 {
  return 0.5 * v * (1.0 + erf_approx(v * 0.7071067811865476));
}

fn apply(v: f32) -> f32 {
#if OP == silu
  return v / (1.0 + exp(-v));
#elif OP == gelu_tanh
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  return 0.5 * v * (1.0 + tanh(clamp(u, -15.0, 15.0)));
#elif OP == relu
  return max(v, 0.0);
#elif OP == log
  return log(v);
#else
  return gelu(v);
#endif
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * {{WG}}u;
  if (i >= params.count) {
    return;
  }
#if OP == geglu
  let row = i / params.half;
  let j = i % params.half;
  let base = row * 2u * params.half;
  out[i] = x[base + j] * gelu(x[base + params.half + j]);
#else
  out[i] = apply(x[i]);
#endif
}
