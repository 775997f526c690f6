//! params: VEC, SILU, WG
// Group-norm and layer-norm without barriers, for CPU-backed adapters (where every workgroup barrier is
// costly): one item per (row, group) of x [rows, pixels, C] channels last. Two passes for the statistics
// (the mean, then the mean squared deviation, so an input with a large mean keeps its precision, as in
// norm.wgsl; a group is small enough to stay in the CPU's cache), then the item normalises its own values:
// out = (x − mean) · inv · weight + bias (and x·sigmoid(x) with SILU), in one dispatch. VEC: group_size and C are multiples of 4, x and out are vec4.
{{BINDINGS}}
#include elementwise
#include activation

#if VEC == 4
alias XT = vec4<f32>;
#else
alias XT = f32;
#endif

fn item(i: u32) {
  let row = i / params.groups;
  let g = i % params.groups;
  let gs = params.group_size / {{VEC}}u;
  let stride = params.channels / {{VEC}}u;
  let base = row * params.pixels * stride + g * gs;
  // Summing x − shift (a member of the group) keeps the mean exact to f32 even when |mean| >> spread.
#if VEC == 4
  let shift = vec4<f32>(x[base].x);
#else
  let shift = x[base];
#endif
  var s1 = XT(0.0);
  for (var p = 0u; p < params.pixels; p++) {
    for (var j = 0u; j < gs; j++) {
      s1 += x[base + p * stride + j] - shift;
    }
  }
  let n = f32(params.pixels * params.group_size);
#if VEC == 4
  let mean = shift.x + dot(vec4<f32>(1.0), s1) / n;
#else
  let mean = shift + s1 / n;
#endif
  var s2 = XT(0.0);
  for (var p = 0u; p < params.pixels; p++) {
    for (var j = 0u; j < gs; j++) {
      let d = x[base + p * stride + j] - mean;
      s2 += d * d;
    }
  }
#if VEC == 4
  let q = dot(vec4<f32>(1.0), s2) / n;
#else
  let q = s2 / n;
#endif
  let inv = inverseSqrt(q + params.eps);
  let first = g * params.group_size;
  for (var j = 0u; j < gs; j++) {
    let c = first + {{VEC}}u * j;
#if VEC == 4
    let w = vec4<f32>(weight[c], weight[c + 1u], weight[c + 2u], weight[c + 3u]) * inv;
    let b = vec4<f32>(bias[c], bias[c + 1u], bias[c + 2u], bias[c + 3u]);
#else
    let w = weight[c] * inv;
    let b = bias[c];
#endif
    for (var p = 0u; p < params.pixels; p++) {
      let at = base + p * stride + j;
      var y = (x[at] - mean) * w + b; // subtract first: x · w − mean · w would cancel
#if SILU
#if VEC == 4
      y = vec4<f32>(silu(y.x), silu(y.y), silu(y.z), silu(y.w));
#else
      y = silu(y);
#endif
#endif
      out[at] = y;
    }
  }
}
