//! params: WG
// Nearest-neighbour ×2 upsampling of x [N, H, W, C] (channels last) to [N, 2H, 2W, C].
{{BINDINGS}}
#include elementwise

fn item(i: u32) {
  let c = i % params.channels;
  let pixel = i / params.channels;
  let ow = pixel % (2u * params.width);
  let rest = pixel / (2u * params.width);
  let oh = rest % (2u * params.height);
  let n = rest / (2u * params.height);
  out[i] = x[((n * params.height + oh / 2u) * params.width + ow / 2u) * params.channels + c];
}
