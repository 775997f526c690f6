//! params: FLIP, WG
// diffusers' sinusoidal timestep embedding: for timestep t (f32) and i < half = dim / 2,
//   freq_i = exp(−ln(max_period) · i / (half − shift)),  arg = t · freq_i,  [sin(arg), cos(arg)] (cos first with FLIP).
// The frequencies come from the host, rounded to f32 as torch rounds them (a GPU exp may be an ulp off, and
// arguments reach ~1000, where an ulp of the frequency moves sin by 1e-4); arg is formed in f32 as torch does.
// sin and cos are our own: a Cody–Waite reduction to [−π/4, π/4] (π/2 split in a high and a low part) and
// Taylor polynomials there (error < 2e-9), because WGSL only asks 2^-11 of the built-ins and SwiftShader's are
// about that coarse.
// One item per (timestep, frequency): `count` = timesteps · half.
{{BINDINGS}}
#include elementwise

const PIO2_HI = 1.5703125;                 // 201/128: few significant bits, so q · PIO2_HI is exact in f32
const PIO2_LO = 0.000483826794896619231;   // π/2 − PIO2_HI
const TWO_OVER_PI = 0.636619772367581343;

// (sin, cos) of a, |a| up to ~1e4.
fn sincos(a: f32) -> vec2<f32> {
  let q = round(a * TWO_OVER_PI);
  let r = (a - q * PIO2_HI) - q * PIO2_LO;
  let r2 = r * r;
  let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0)))));
  let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
  switch (i32(q) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

fn item(i: u32) {
  let half = params.dim / 2u;
  let row = i / half;
  let j = i % half;
  let arg = timesteps[row] * freqs[j];
  let sc = sincos(arg);
  let base = row * params.dim;
#if FLIP
  out[base + half + j] = sc.x;
  out[base + j] = sc.y;
#else
  out[base + j] = sc.x;
  out[base + half + j] = sc.y;
#endif
  // An odd dim leaves its last column zero, as diffusers pads it.
  if (j == 0u && params.dim % 2u == 1u) {
    out[base + params.dim - 1u] = 0.0;
  }
}
