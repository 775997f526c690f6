import { mul } from '../ops/math/binary';
import type { Tensor } from '../runtime/tensor';

/** x · s (x itself, not a copy, when s is 1: the caller must not release the result separately then). */
export function scaleBy(x: Tensor, s: number): Tensor {
  if (s === 1) return x;
  const k = x.device.tensor([1], 'f32', [s]);
  const out = mul(x, k);
  k.release();
  return out;
}
