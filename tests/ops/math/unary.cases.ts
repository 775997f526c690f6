import { ShapeError } from '../../../src/errors';
import { unary, type UnaryOp } from '../../../src/ops/math/unary';
import { assertClose, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

/** erf by its Taylor series in float64 (|x| small enough here for 80 terms). */
function erf(x: number): number {
  if (Math.abs(x) > 5) return Math.sign(x);
  let sum = x;
  let term = x;
  for (let n = 1; n < 120; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
const reference: Record<Exclude<UnaryOp, 'geglu' | 'log'>, (v: number) => number> = {
  silu: (v) => v / (1 + Math.exp(-v)),
  gelu,
  gelu_tanh: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
  relu: (v) => Math.max(v, 0),
};

export const cases: Cases = {
  'silu, gelu (erf), gelu_tanh and relu match float64 on 20 lengths, inputs up to ±12': async ({ device }) => {
    const r = rng(31);
    const lengths = [1, 2, 3, 17, 255, 256, 257, 1000, 4099, 65537];
    while (lengths.length < 20) lengths.push(1 + Math.floor(r() * 5000));
    for (const n of lengths) {
      const x = randomArray(n, r).map((v) => v * 12);
      for (const op of Object.keys(reference) as (keyof typeof reference)[]) {
        await device.scopeAsync(async () => {
          const y = unary(op, device.tensor([n], 'f32', x));
          assertClose(await y.read(), Float32Array.from(x, reference[op]), { atol: 2e-6, rtol: 2e-6, label: `${op} n=${n}` });
        });
      }
    }
  },

  'log matches float64 on odd lengths, inputs from 1e-6 to 1e4 (the log-mel audio front end)': async ({ device }) => {
    const r = rng(33);
    for (const n of [1, 3, 64, 255, 257, 4099]) {
      const x = Float32Array.from({ length: n }, () => 10 ** (-6 + 10 * r()));
      await device.scopeAsync(async () => {
        const y = unary('log', device.tensor([n], 'f32', x));
        assertClose(await y.read(), Float32Array.from(x, Math.log), { atol: 2e-6, rtol: 2e-6, label: `log n=${n}` });
      });
    }
  },

  'geglu: value half times gelu(gate half), diffusers order, on 20 shapes': async ({ device }) => {
    const r = rng(32);
    const shapes = [[2], [1, 2], [3, 10], [7, 1, 6], [64, 256]];
    while (shapes.length < 20) shapes.push([1 + Math.floor(r() * 20), 2 * (1 + Math.floor(r() * 70))]);
    for (const shape of shapes) {
      const d = shape[shape.length - 1]! / 2;
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const x = randomArray(rows * 2 * d, r).map((v) => v * 4);
      const want = new Float32Array(rows * d);
      for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) want[i * d + j] = x[i * 2 * d + j]! * gelu(x[i * 2 * d + d + j]!);
      await device.scopeAsync(async () => {
        const y = unary('geglu', device.tensor(shape, 'f32', x));
        assertClose(await y.read(), want, { atol: 1e-5, rtol: 2e-6, label: `geglu [${shape.join(',')}]` });
      });
    }
    await device.scopeAsync(() => assertThrows(() => unary('geglu', device.tensor([3, 5])), ShapeError, /even/));
  },
};
