//! params: CO, ACT, BIAS, RESIDUAL, WG
// 2-D convolution as an implicit GEMM, channels last, no im2col buffer: each thread computes CO output
// channels of one output pixel, reading the input at addresses derived from the output index and the
// kernel tap. x [N, H, W, Cin]; w prepared as [Cout, KH, KW, Cin/groups]; out [N, OH, OW, Cout].
// Padding is given per side (top, left; bottom and right follow from the output size), so the VAE's
// (0, 1, 0, 1) padding needs no copy. Epilogue: + bias, activation, + residual.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if BIAS
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#if RESIDUAL
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#endif
#else
#if RESIDUAL
@group(0) @binding(3) var<storage, read> residual: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif
#endif

fn erf_approx(v: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26: |error| < 1.5e-7.
  let t = 1.0 / (1.0 + 0.3275911 * abs(v));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-v * v);
  return select(-y, y, v >= 0.0);
}

fn activate(v: f32) -> f32 {
#if ACT == silu
  return v / (1.0 + exp(-v));
#elif ACT == gelu
  return 0.5 * v * (1.0 + erf_approx(v * 0.7071067811865476));
#elif ACT == relu
  return max(v, 0.0);
#else
  return v;
#endif
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = gid.x + gid.y * groups.x * {{WG}}u;
  let blocks = (params.cout + {{CO}}u - 1u) / {{CO}}u;
  if (t >= params.pixels * blocks) {
    return;
  }
  let co0 = (t % blocks) * {{CO}}u;
  let pixel = t / blocks;
  let ow = pixel % params.out_w;
  let oh = (pixel / params.out_w) % params.out_h;
  let n = pixel / (params.out_w * params.out_h);
  let cin_g = params.cin / params.groups;
  let cout_g = params.cout / params.groups;
  // CO > 1 is only chosen when the CO channels share a group.
  let ci0 = (min(co0, params.cout - 1u) / cout_g) * cin_g;
  var acc: array<f32, {{CO}}>;
  for (var j = 0u; j < {{CO}}u; j++) {
    acc[j] = 0.0;
  }
  let taps = params.kh * params.kw;
  for (var k = 0u; k < taps; k++) {
    let ky = k / params.kw;
    let kx = k % params.kw;
    let ih = i32(oh * params.stride_h + ky * params.dil_h) - i32(params.pad_top);
    let iw = i32(ow * params.stride_w + kx * params.dil_w) - i32(params.pad_left);
    if (ih < 0 || iw < 0 || ih >= i32(params.in_h) || iw >= i32(params.in_w)) {
      continue;
    }
    let xb = ((n * params.in_h + u32(ih)) * params.in_w + u32(iw)) * params.cin + ci0;
    for (var c = 0u; c < cin_g; c++) {
      let xv = x[xb + c];
      for (var j = 0u; j < {{CO}}u; j++) {
        let co = min(co0 + j, params.cout - 1u);
        acc[j] += xv * w[(co * taps + k) * cin_g + c];
      }
    }
  }
  for (var j = 0u; j < {{CO}}u; j++) {
    let co = co0 + j;
    if (co < params.cout) {
      let o = pixel * params.cout + co;
      var v = acc[j];
#if BIAS
      v += bias[co];
#endif
      v = activate(v);
#if RESIDUAL
      v += residual[o];
#endif
      out[o] = v;
    }
  }
}
