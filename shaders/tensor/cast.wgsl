//! params: SRC, DST, WG
// Copies `count` elements converting between f32 and f16. f16 is stored packed two per u32 word and read
// with unpack2x16float, which needs no `shader-f16`. Writing f16, one thread packs one whole word, so no
// two threads write the same u32.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
#if SRC == f16
@group(0) @binding(1) var<storage, read> src: array<u32>;
#else
@group(0) @binding(1) var<storage, read> src: array<f32>;
#endif
#if DST == f16
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
#else
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
#endif

fn load(i: u32) -> f32 {
#if SRC == f16
  return unpack2x16float(src[i >> 1u])[i & 1u];
#else
  return src[i];
#endif
}

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * {{WG}}u;
#if DST == f16
  let first = 2u * i;
  if (first >= params.count) {
    return;
  }
  var hi = 0.0;
  if (first + 1u < params.count) {
    hi = load(first + 1u);
  }
  dst[i] = pack2x16float(vec2<f32>(load(first), hi));
#else
  if (i >= params.count) {
    return;
  }
  dst[i] = load(i);
#endif
}
