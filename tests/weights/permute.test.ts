import { describe, expect, it } from 'vitest';
import { permuteRaw } from '../../src/weights/permute';
import type { RawTensor, SafeDType } from '../../src/weights/safetensors';

/** Reference: element at output index (i0..in) = input element at the permuted index, by plain arithmetic. */
function reference(values: number[], shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]!);
  const out: number[] = [];
  const total = values.length;
  for (let o = 0; o < total; o++) {
    let rest = o;
    const idx = new Array<number>(shape.length);
    for (let d = outShape.length - 1; d >= 0; d--) {
      idx[perm[d]!] = rest % outShape[d]!;
      rest = Math.floor(rest / outShape[d]!);
    }
    let flat = 0;
    for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + idx[d]!;
    out.push(values[flat]!);
  }
  return out;
}

function raw(dtype: SafeDType, shape: number[], values: number[], offset = 0): RawTensor {
  const size = { F64: 8, F32: 4, F16: 2, BF16: 2, U8: 1 }[dtype as 'F64' | 'F32' | 'F16' | 'BF16' | 'U8'];
  const buffer = new ArrayBuffer(offset + values.length * size);
  const view = new DataView(buffer, offset);
  values.forEach((v, i) => (size === 8 ? view.setFloat64(8 * i, v, true) : size === 4 ? view.setUint32(4 * i, v, true) : size === 2 ? view.setUint16(2 * i, v, true) : view.setUint8(i, v)));
  return { name: 't', dtype, shape, bytes: new Uint8Array(buffer, offset) };
}

function decode(t: RawTensor): number[] {
  const size = t.bytes.length / t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  return Array.from({ length: t.bytes.length / size }, (_, i) => (size === 8 ? view.getFloat64(8 * i, true) : size === 4 ? view.getUint32(4 * i, true) : size === 2 ? view.getUint16(2 * i, true) : view.getUint8(i)));
}

describe('[node] CPU re-layout of tensor bytes', () => {
  const cases: [SafeDType, number[], number[]][] = [
    ['F32', [5, 3, 3, 7], [0, 2, 3, 1]], // a conv weight → [Cout, KH, KW, Cin]
    ['F16', [4, 6, 1, 1], [0, 2, 3, 1]],
    ['BF16', [3, 2, 5], [0, 2, 1]], // conv1d
    ['F64', [2, 3, 4], [2, 0, 1]],
    ['U8', [7], [0]],
    ['F32', [1, 1, 1, 1], [0, 2, 3, 1]],
    ['F16', [2, 1, 3, 1, 2], [4, 3, 2, 1, 0]],
    // One axis moved to the end (the transposing fast path): first, middle, last (a copy), odd sizes.
    ['F16', [7, 3, 5], [1, 2, 0]],
    ['F32', [2, 5, 3, 3], [0, 1, 3, 2]],
    ['F16', [3, 4, 5], [0, 1, 2]],
    ['F16', [13, 11, 3, 3], [0, 2, 3, 1]],
  ];
  for (const [dtype, shape, perm] of cases) {
    it(`[node] ${dtype} [${shape}] by [${perm}] equals the index arithmetic`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => (i * 37 + 11) % 251);
      const out = permuteRaw(raw(dtype, shape, values, dtype === 'F64' ? 4 : 2), perm); // misaligned source bytes
      expect(out.shape).toEqual(perm.map((p) => shape[p]));
      expect(decode(out)).toEqual(reference(values, shape, perm));
    });
  }
  it('[node] refuses what is not a permutation', () => {
    expect(() => permuteRaw(raw('F32', [2, 3], [1, 2, 3, 4, 5, 6]), [0, 0])).toThrow(/not a permutation/);
    expect(() => permuteRaw(raw('F32', [2, 3], [1, 2, 3, 4, 5, 6]), [1])).toThrow(/not a permutation/);
  });
});
