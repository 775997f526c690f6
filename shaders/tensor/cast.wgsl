//! params: SRC, DST, WG
// Copies `elements` values converting between f32 and f16. f16 is stored packed two per u32 word and read
// with unpack2x16float, which needs no `shader-f16`. Writing f16, one item packs one whole word (`count` =
// ceil(elements / 2)), so no two threads write the same u32; writing f32, one item is one element.
{{BINDINGS}}
#include elementwise

fn load(i: u32) -> f32 {
#if SRC == f16
  return unpack2x16float(src[i >> 1u])[i & 1u];
#else
  return src[i];
#endif
}

fn item(i: u32) {
#if DST == f16
  let first = 2u * i;
  var hi = 0.0;
  if (first + 1u < params.elements) {
    hi = load(first + 1u);
  }
  dst[i] = pack2x16float(vec2<f32>(load(first), hi));
#else
  dst[i] = load(i);
#endif
}
