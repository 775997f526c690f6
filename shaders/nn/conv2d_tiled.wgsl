//! params: W16, ACT, BIAS, RESIDUAL
// 2-D convolution (one group) as an implicit GEMM through workgroup memory, for GPUs: out[pixel, co] =
// sum over k = (tap, ci) of x[pixel's input at tap, ci] · w[co, k], with x [N, H, W, Cin] channels last and the
// weight prepared as [Cout, KH, KW, Cin] = [Cout, K]. A workgroup of 8x8 threads owns a 64-pixel x 64-channel
// output tile and walks K in steps of 16: its 64 threads stage a 64x16 block of the implicit input matrix and
// a 16x64 block of the weight, each load spread so that neighbouring threads read neighbouring k (input
// channels and weight rows are contiguous in k: coalesced reads), then each thread accumulates 8 pixels x 8
// channels (rows ty + 8i, columns tx + 8j) from workgroup memory. With W16 the weight is f16, two per u32.
// Epilogue as conv2d.wgsl: + bias ([Cout], or per image when bias_stride = Cout), activation, + residual.
{{BINDINGS}}
#include conv_epilogue

const TILE = 64u;
const KT = 16u;

var<workgroup> tileX: array<f32, 1024>; // [pixel 64][k 16]
var<workgroup> tileW: array<f32, 1024>; // [k 16][channel 64]

fn load_w(i: u32) -> f32 {
#if W16
  let h = unpack2x16float(w[i >> 1u]);
  return select(h.x, h.y, (i & 1u) == 1u);
#else
  return w[i];
#endif
}

// The implicit input matrix at (pixel p, k): zero outside the image (padding) and past the edges.
fn load_x(p: u32, k: u32, kdim: u32) -> f32 {
  if (p >= params.pixels || k >= kdim) {
    return 0.0;
  }
  let ow = p % params.out_w;
  let oh = (p / params.out_w) % params.out_h;
  let n = p / (params.out_w * params.out_h);
  let tap = k / params.cin;
  let ci = k % params.cin;
  let ih = i32(oh * params.stride_h + (tap / params.kw) * params.dil_h) - i32(params.pad_top);
  let iw = i32(ow * params.stride_w + (tap % params.kw) * params.dil_w) - i32(params.pad_left);
  if (ih < 0 || ih >= i32(params.in_h) || iw < 0 || iw >= i32(params.in_w)) {
    return 0.0;
  }
  return x[((n * params.in_h + u32(ih)) * params.in_w + u32(iw)) * params.cin + ci];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let pTile = wid.y * TILE;
  let cTile = wid.x * TILE;
  let kdim = params.kh * params.kw * params.cin;
  var acc: array<array<f32, 8>, 8>;
  for (var k0 = 0u; k0 < kdim; k0 += KT) {
    // 1024 values of each tile, 16 per thread: value e = l + 64 r is (row e / 16, k e % 16).
    for (var r = 0u; r < 16u; r++) {
      let e = l + 64u * r;
      let row = e / KT;
      let kk = e % KT;
      tileX[e] = load_x(pTile + row, k0 + kk, kdim);
      let co = cTile + row;
      tileW[kk * TILE + row] = select(0.0, load_w(co * kdim + k0 + kk), co < params.cout && k0 + kk < kdim);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      var a: array<f32, 8>;
      var b: array<f32, 8>;
      for (var i = 0u; i < 8u; i++) {
        a[i] = tileX[(lid.y + 8u * i) * KT + kk];
        b[i] = tileW[kk * TILE + lid.x + 8u * i];
      }
      for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 8u; j++) {
          acc[i][j] += a[i] * b[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 8u; i++) {
    let p = pTile + lid.y + 8u * i;
    if (p >= params.pixels) {
      continue;
    }
    let n = p / (params.out_w * params.out_h);
    for (var j = 0u; j < 8u; j++) {
      let co = cTile + lid.x + 8u * j;
      if (co < params.cout) {
        conv_store(acc[i][j], n, co, p * params.cout + co);
      }
    }
  }
}
