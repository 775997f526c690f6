/**
 * Re-lays a tensor's element bytes on the CPU, as it is read from a file and before it is uploaded: a
 * convolution weight goes from PyTorch's [Cout, Cin/g, KH, KW] to the [Cout, KH, KW, Cin/g] that conv2d reads,
 * with no GPU pass and no f16 → f32 → f16 round trip.
 */
import { ShapeError } from '../errors';
import { dtypeSize, type RawTensor } from './safetensors';

type Elements = Uint8Array | Uint16Array | Uint32Array | Float64Array;

function elements(bytes: Uint8Array, size: number): Elements {
  const copy = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = copy.byteLength / size;
  if (size === 1) return copy;
  if (size === 2) return new Uint16Array(copy.buffer, copy.byteOffset, n);
  if (size === 4) return new Uint32Array(copy.buffer, copy.byteOffset, n);
  return new Float64Array(copy.buffer, copy.byteOffset, n);
}

/**
 * `t` with its axes reordered: output axis i is input axis `perm[i]` (as torch's `permute`). With `into` (at
 * least as long as `t`'s bytes, 8-byte aligned), the result is written there and its bytes are a view of it: a
 * loader re-laying thousands of weights reuses one scratch buffer instead of touching fresh memory for each,
 * which on sd15 cost more than the re-layout itself. The caller then consumes the result before reusing `into`.
 */
export function permuteRaw(t: RawTensor, perm: readonly number[], into?: Uint8Array): RawTensor {
  const rank = t.shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError(`permute of ${t.name} [${t.shape.join(', ')}]: [${perm.join(', ')}] is not a permutation of its axes`);
  }
  const size = dtypeSize[t.dtype];
  const src = elements(t.bytes, size);
  const shape = perm.map((p) => t.shape[p]!);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= t.shape[i]!;
  }
  const strides = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const out = into ? elements(into.subarray(0, t.bytes.byteLength), size) : new (src.constructor as new (n: number) => Elements)(src.length);
  const moved = perm[rank - 1]!;
  if (rank > 1 && perm.every((p, i) => i === rank - 1 || p === (i < moved ? i : i + 1))) {
    // One axis moved to the end (a convolution weight's Cin): per outer item, a [rows, cols] → [cols, rows]
    // transpose read in order, about 6x faster than the general walk below on sd15's weights.
    const rows = t.shape[moved]!;
    const cols = t.shape.slice(moved + 1).reduce((a, b) => a * b, 1);
    const block = rows * cols;
    for (let b = 0; b < src.length; b += block) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0, from = b + r * cols, to = b + r; c < cols; c++, to += rows) out[to] = src[from + c]!;
      }
    }
    return { name: t.name, dtype: t.dtype, shape, bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
  }
  const index = new Array<number>(rank).fill(0);
  const inner = strides[rank - 1] ?? 1;
  const innerSize = shape[rank - 1] ?? 1;
  let at = 0;
  let base = 0;
  // Walk the output in order; the innermost axis is a strided run of the input.
  while (at < out.length) {
    for (let j = 0, k = base; j < innerSize; j++, k += inner) out[at++] = src[k]!;
    let d = rank - 2;
    for (; d >= 0; d--) {
      index[d]!++;
      base += strides[d]!;
      if (index[d]! < shape[d]!) break;
      base -= strides[d]! * shape[d]!;
      index[d] = 0;
    }
    if (d < 0) break;
  }
  return { name: t.name, dtype: t.dtype, shape, bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
}
