import { ShapeError } from '../../src/errors';
import { binary, broadcastLayout, broadcastShapes, selectVariant, type BinaryOp } from '../../src/ops/math/binary';
import { assertClose, assertEqual, assertThrows, randomArray, rng } from '../harness/assert';
import type { Cases } from '../harness/cases';

const apply: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  max: Math.max,
  min: Math.min,
};

/** Plain-JS broadcasting reference. */
function reference(op: BinaryOp, a: Float32Array, as: number[], b: Float32Array, bs: number[]): Float32Array {
  const out = broadcastShapes(as, bs);
  const n = out.reduce((p, d) => p * d, 1);
  const res = new Float32Array(n);
  const index = (shape: number[], coord: number[]) => {
    let i = 0;
    const off = coord.length - shape.length;
    for (let d = 0; d < shape.length; d++) i = i * shape[d]! + (shape[d] === 1 ? 0 : coord[d + off]!);
    return i;
  };
  const coord = new Array<number>(out.length).fill(0);
  for (let i = 0; i < n; i++) {
    let r = i;
    for (let d = out.length - 1; d >= 0; d--) {
      coord[d] = r % out[d]!;
      r = Math.floor(r / out[d]!);
    }
    res[i] = apply[op](a[index(as, coord)]!, b[index(bs, coord)]!);
  }
  return res;
}

/** Random broadcast-compatible shape pairs: sizes 1, primes, rank 0 to 6. */
function shapePairs(count: number, seed: number): [number[], number[]][] {
  const r = rng(seed);
  const sizes = [1, 2, 3, 5, 7, 13, 17, 31];
  const pairs: [number[], number[]][] = [
    [[], []],
    [[1], [7]],
    [[3, 1, 5], [1, 4, 1]],
    [[2, 3, 4, 5, 6, 7], [7]],
    [[65537], [1]],
    [[2, 3, 5, 4], [3, 1, 4]], // the motion module's positions: broadcast across the batch and the pixels
    [[1, 6, 1], [1, 1]],
  ];
  while (pairs.length < count) {
    const rank = 1 + Math.floor(r() * 5);
    const out = Array.from({ length: rank }, () => sizes[Math.floor(r() * sizes.length)]!);
    const a = out.map((d) => (r() < 0.3 ? 1 : d));
    const b = out.slice(Math.floor(r() * rank)).map((d) => (r() < 0.3 ? 1 : d));
    pairs.push([a, b]);
  }
  return pairs;
}

export const cases: Cases = {
  'add, sub, mul, div, max, min broadcast like NumPy on 24 shape pairs': async ({ device }) => {
    const r = rng(7);
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min'];
    for (const [i, [as, bs]] of shapePairs(24, 11).entries()) {
      const op = ops[i % ops.length]!;
      const na = as.reduce((p, d) => p * d, 1);
      const nb = bs.reduce((p, d) => p * d, 1);
      const av = randomArray(na, r);
      const bv = randomArray(nb, r).map((v) => (op === 'div' ? v + Math.sign(v || 1) * 0.5 : v));
      await device.scopeAsync(async () => {
        const out = binary(op, device.tensor(as, 'f32', av), device.tensor(bs, 'f32', bv));
        assertEqual(out.shape, broadcastShapes(as, bs), `${op} shape`);
        assertClose(await out.read(), reference(op, av, as, bv, bs), { atol: 1e-6, rtol: 1e-6, label: `${op} [${as}] x [${bs}]` });
      });
    }
  },

  'broadcast dimensions are merged where both operands walk them as one': async ({ device }) => {
    assertEqual(broadcastLayout([2, 3, 5, 4], [3, 1, 4], [2, 3, 5, 4]), { shape: [2, 3, 5, 4], aStrides: [60, 20, 4, 1], bStrides: [0, 4, 0, 1] }, 'positions');
    assertEqual(broadcastLayout([6, 7, 8], [8], [6, 7, 8]), { shape: [42, 8], aStrides: [8, 1], bStrides: [0, 1] }, 'a bias');
    assertEqual(broadcastLayout([1, 5, 1, 3], [5, 2, 1], [1, 5, 2, 3]), { shape: [5, 2, 3], aStrides: [3, 0, 1], bStrides: [2, 1, 0] }, 'ones dropped');
    await device.scopeAsync(async () => {
      assertEqual(selectVariant('add', device.tensor([4, 9]), device.tensor([9])).RANK, 2, 'rank of a row bias');
      assertEqual(selectVariant('add', device.tensor([4, 9]), device.tensor([4, 9])).RANK, 0, 'same shapes');
    });
  },

  'shapes that do not broadcast are refused before any GPU work': async ({ device }) => {
    const a = device.tensor([2, 3]);
    const b = device.tensor([4]);
    const before = device.stats.dispatches;
    await assertThrows(() => binary('add', a, b), ShapeError, /do not broadcast/);
    assertEqual(device.stats.dispatches, before, 'dispatches');
    const h = device.tensor([3], 'f16');
    await assertThrows(() => binary('add', h, h), ShapeError, /f32/);
    for (const t of [a, b, h]) t.release();
  },

  'empty tensors give empty results': async ({ device }) => {
    const out = binary('add', device.tensor([0, 3]), device.tensor([3]));
    assertEqual(out.shape, [0, 3], 'shape');
    assertEqual((await out.read()).length, 0, 'length');
    out.release();
  },
};
