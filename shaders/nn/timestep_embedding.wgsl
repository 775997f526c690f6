//! params: FLIP, WG
// diffusers' sinusoidal timestep embedding: for timestep t (f32) and i < half = dim / 2,
//   freq_i = exp(−ln(max_period) · i / (half − shift)),  arg = t · freq_i,  [sin(arg), cos(arg)] (cos first with FLIP).
// arg is formed in f32 as torch does; sin and cos then get a Cody–Waite reduction to [−π, π] (2π split in a
// high and a low part), because WGSL only bounds their error inside that range and arguments reach ~1000 here.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> timesteps: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const TWO_PI_HI = 6.28125;                  // exact in f32 with few significant bits, so k · TWO_PI_HI is exact
const TWO_PI_LO = 0.0019353071795864769;    // 2π − TWO_PI_HI
const INV_TWO_PI = 0.15915494309189535;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * {{WG}}u;
  let half = params.dim / 2u;
  if (i >= params.count * half) {
    return;
  }
  let row = i / half;
  let j = i % half;
  let freq = exp(-params.log_max_period * f32(j) / (f32(half) - params.shift));
  let arg = timesteps[row] * freq;
  let k = round(arg * INV_TWO_PI);
  let r = (arg - k * TWO_PI_HI) - k * TWO_PI_LO;
  let base = row * params.dim;
#if FLIP
  out[base + half + j] = sin(r);
  out[base + j] = cos(r);
#else
  out[base + j] = sin(r);
  out[base + half + j] = cos(r);
#endif
  // An odd dim leaves its last column zero, as diffusers pads it.
  if (j == 0u && params.dim % 2u == 1u) {
    out[base + params.dim - 1u] = 0.0;
  }
}
