import { ShapeError } from '../../../src/errors';
import { permute } from '../../../src/ops/tensor/permute';
import { concat, slice } from '../../../src/ops/tensor/slab';
import { upsampleNearest2x } from '../../../src/ops/tensor/upsample';
import { assertClose, assertEqual, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

const strides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
};
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Visits every coordinate of `shape` in row-major order. */
function* coords(shape: readonly number[]): Generator<number[]> {
  const n = prod(shape);
  const c = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      c[d] = r % shape[d]!;
      r = Math.floor(r / shape[d]!);
    }
    yield c;
  }
}

function randomShape(r: () => number, rank: number): number[] {
  return Array.from({ length: rank }, () => [1, 2, 3, 5, 7][Math.floor(r() * 5)]!);
}

export const cases: Cases = {
  'permute: every rank 1..6 with random orders, 20 cases, plus NCHW -> NHWC': async ({ device }) => {
    const r = rng(41);
    const list: [number[], number[]][] = [[[2, 3, 4, 5], [0, 2, 3, 1]], [[7], [0]]];
    while (list.length < 20) {
      const rank = 1 + Math.floor(r() * 6);
      const axes = Array.from({ length: rank }, (_, i) => i).sort(() => r() - 0.5);
      list.push([randomShape(r, rank), axes]);
    }
    for (const [shape, axes] of list) {
      const x = randomArray(prod(shape), r);
      const outShape = axes.map((a) => shape[a]!);
      const st = strides(shape);
      const want = new Float32Array(prod(shape));
      let i = 0;
      for (const c of coords(outShape)) want[i++] = x[c.reduce((s, v, d) => s + v * st[axes[d]!]!, 0)]!;
      await device.scopeAsync(async () => {
        const y = permute(device.tensor(shape, 'f32', x), axes);
        assertEqual(y.shape, outShape, 'shape');
        assertClose(await y.read(), want, { atol: 0, rtol: 0, label: `[${shape}] by [${axes}]` });
      });
    }
    await device.scopeAsync(() => assertThrows(() => permute(device.tensor([2, 3]), [0, 0]), ShapeError, /permutation/));
  },

  'concat of 2-3 inputs and slice along every axis, 20 cases each': async ({ device }) => {
    const r = rng(42);
    for (let t = 0; t < 20; t++) {
      const rank = 1 + Math.floor(r() * 4);
      const base = randomShape(r, rank);
      const axis = Math.floor(r() * rank);
      const parts = Array.from({ length: 2 + Math.floor(r() * 2) }, () => {
        const s = [...base];
        s[axis] = 1 + Math.floor(r() * 4);
        return { shape: s, data: randomArray(prod(s), r) };
      });
      const outShape = [...base];
      outShape[axis] = parts.reduce((a, p) => a + p.shape[axis]!, 0);
      const want = new Float32Array(prod(outShape));
      let i = 0;
      for (const c of coords(outShape)) {
        let k = c[axis]!;
        let p = 0;
        while (k >= parts[p]!.shape[axis]!) k -= parts[p++]!.shape[axis]!;
        const local = [...c];
        local[axis] = k;
        want[i++] = parts[p]!.data[local.reduce((s, v, d) => s + v * strides(parts[p]!.shape)[d]!, 0)]!;
      }
      await device.scopeAsync(async () => {
        const y = concat(parts.map((p) => device.tensor(p.shape, 'f32', p.data)), axis);
        assertEqual(y.shape, outShape, 'shape');
        const got = await y.read();
        assertClose(got, want, { atol: 0, rtol: 0, label: `concat axis ${axis}` });
        const start = Math.floor(r() * outShape[axis]!);
        const end = start + Math.floor(r() * (outShape[axis]! - start + 1));
        const s = slice(y, axis, start, end);
        const sShape = [...outShape];
        sShape[axis] = end - start;
        const st = strides(outShape);
        const sWant = new Float32Array(prod(sShape));
        let j = 0;
        for (const c of coords(sShape)) sWant[j++] = got[c.reduce((acc, v, d) => acc + (d === axis ? v + start : v) * st[d]!, 0)]!;
        assertClose(await s.read(), sWant, { atol: 0, rtol: 0, label: `slice axis ${axis} [${start}, ${end})` });
      });
    }
    await device.scopeAsync(() => assertThrows(() => concat([device.tensor([2, 3]), device.tensor([3, 3])], 1), ShapeError, /does not match/));
    await device.scopeAsync(() => assertThrows(() => slice(device.tensor([2, 3]), 1, 2, 4), ShapeError, /outside/));
  },

  'nearest x2 upsampling, channels last, 20 shapes': async ({ device }) => {
    const r = rng(43);
    for (let t = 0; t < 20; t++) {
      const [n, h, w, c] = [1 + Math.floor(r() * 2), 1 + Math.floor(r() * 9), 1 + Math.floor(r() * 9), 1 + Math.floor(r() * 13)];
      const x = randomArray(n * h * w * c, r);
      const want = new Float32Array(n * 4 * h * w * c);
      let i = 0;
      for (const [b, y, xo, ch] of coords([n, 2 * h, 2 * w, c])) want[i++] = x[((b! * h + (y! >> 1)) * w + (xo! >> 1)) * c + ch!]!;
      await device.scopeAsync(async () => {
        const y = upsampleNearest2x(device.tensor([n, h, w, c], 'f32', x));
        assertClose(await y.read(), want, { atol: 0, rtol: 0, label: `[${n},${h},${w},${c}]` });
      });
    }
  },
};
