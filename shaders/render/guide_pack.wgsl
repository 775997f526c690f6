//! params: WG
// Turns the head renderer's guide texture, copied to a buffer (rgba16float texels, two u32 words each: r|g,
// b|a; rows `row_words` apart; `frames` images of `size · ss` rows stacked), into a tensor [frames, size,
// size, 3] channels last, box-filtering each ss × ss block: weights-tools/flap_ref/guide.py renders at
// size · ss and average-pools the same way.
{{BINDINGS}}
#include elementwise

fn item(i: u32) {
  let x = i % params.size;
  let y = (i / params.size) % params.size;
  let frame = i / (params.size * params.size);
  let ss = params.ss;
  var sum = vec3<f32>(0.0);
  for (var dy = 0u; dy < ss; dy++) {
    let row = (frame * params.size + y) * ss + dy;
    for (var dx = 0u; dx < ss; dx++) {
      let w = row * params.row_words + (x * ss + dx) * 2u;
      sum += vec3<f32>(unpack2x16float(texels[w]), unpack2x16float(texels[w + 1u]).x);
    }
  }
  let mean = sum / f32(ss * ss);
  out[i * 3u] = mean.x;
  out[i * 3u + 1u] = mean.y;
  out[i * 3u + 2u] = mean.z;
}
