//! params: CO, PX, VEC, W16, ACT, BIAS, RESIDUAL, WG
// 2-D convolution as an implicit GEMM, channels last, no im2col buffer. x [N, H, W, Cin]; w prepared as
// [Cout, KH, KW, Cin/groups]; out [N, OH, OW, Cout]. Register-blocked: each thread computes PX neighbouring
// output pixels of one row times CO output channels (of one group), so every input value it loads feeds CO
// multiply-adds and every weight value PX. With VEC (Cin/groups a multiple of 4) the reduction over input
// channels reads vec4s from both operands. With W16 the weight is stored as f16, two per u32, and unpacked in
// the loop (half the weight memory and traffic). Padding is given per side (top, left; bottom and right follow from
// the output size), so the VAE's (0, 1, 0, 1) padding needs no copy. Epilogue: + bias (shared [Cout], or per image [N, Cout] when
// bias_stride = Cout: a ResNet's time embedding rides in it), activation, + residual.
{{BINDINGS}}
#include conv_epilogue
#include index

#if VEC
alias XT = vec4<f32>;
const STEP = 4u;
#else
alias XT = f32;
const STEP = 1u;
#endif

// The weight at index i, in XT units.
fn load_w(i: u32) -> XT {
#if W16
#if VEC
  let p = w[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
#else
  let h = unpack2x16float(w[i >> 1u]);
  return select(h.x, h.y, (i & 1u) == 1u);
#endif
#else
  return w[i];
#endif
}

fn mac(a: XT, b: XT) -> f32 {
#if VEC
  return dot(a, b);
#else
  return a * b;
#endif
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = flat_index(gid, groups);
  let blocks = params.cout / {{CO}}u; // CO divides Cout/groups (the host chooses it so)
  let row_groups = (params.out_w + {{PX}}u - 1u) / {{PX}}u;
  let rows = params.pixels / params.out_w;
  if (t >= rows * row_groups * blocks) {
    return;
  }
  let co0 = (t % blocks) * {{CO}}u;
  let ow0 = ((t / blocks) % row_groups) * {{PX}}u;
  let row = t / (blocks * row_groups);
  let oh = row % params.out_h;
  let n = row / params.out_h;
  let cin_g = params.cin / params.groups;
  let ci0 = (co0 / (params.cout / params.groups)) * cin_g;
  let taps = params.kh * params.kw;
  // Unrolled (#for … unroll), so the accumulators are indexed by constants and stay in registers.
  var acc: array<array<f32, {{CO}}>, {{PX}}>;
  for (var k = 0u; k < taps; k++) {
    let ky = k / params.kw;
    let kx = k % params.kw;
    let ih = i32(oh * params.stride_h + ky * params.dil_h) - i32(params.pad_top);
    if (ih < 0 || ih >= i32(params.in_h)) {
      continue;
    }
    // Per pixel: where its input row starts (in XT units) and whether the tap falls inside the image.
    var base: array<u32, {{PX}}>;
    var inside: array<bool, {{PX}}>;
    #for $p < PX unroll
      let iw = i32((ow0 + $p) * params.stride_w + kx * params.dil_w) - i32(params.pad_left);
      inside[$p] = iw >= 0 && iw < i32(params.in_w) && ow0 + $p < params.out_w;
      base[$p] = select(0u, (((n * params.in_h + u32(ih)) * params.in_w + u32(iw)) * params.cin + ci0) / STEP, inside[$p]);
    #endfor
    let wbase = (co0 * taps + k) * cin_g / STEP;
    let wstride = taps * cin_g / STEP;
    for (var c = 0u; c < cin_g / STEP; c++) {
      var xv: array<XT, {{PX}}>;
      #for $p < PX unroll
        xv[$p] = select(XT(0.0), x[base[$p] + c], inside[$p]);
      #endfor
      #for $j < CO unroll
        let wv = load_w(wbase + $j * wstride + c);
        #for $p < PX unroll
          acc[$p][$j] += mac(xv[$p], wv);
        #endfor
      #endfor
    }
  }
  #for $p < PX unroll
    if (ow0 + $p < params.out_w) {
      let pixel = row * params.out_w + ow0 + $p;
      #for $j < CO unroll
        conv_store(acc[$p][$j], n, co0 + $j, pixel * params.cout + co0 + $j);
      #endfor
    }
  #endfor
}
