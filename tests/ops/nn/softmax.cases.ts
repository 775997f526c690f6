import { ShapeError } from '../../../src/errors';
import { softmax } from '../../../src/ops/nn/softmax';
import { assertClose, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

function softmaxReference(x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x[r * n + i]!);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(x[r * n + i]! - m);
    for (let i = 0; i < n; i++) out[r * n + i] = Math.exp(x[r * n + i]! - m) / s;
  }
  return out;
}

export const cases: Cases = {
  'softmax over the last axis matches float64 on 22 shapes (rows of 1, primes, long rows, logits up to ±80)': async ({ device }) => {
    const r = rng(41);
    const shapes: number[][] = [[1], [1, 1], [5, 1], [3, 7], [2, 3, 13], [1, 1000], [257, 3], [4, 4096], [61, 127]];
    while (shapes.length < 22) shapes.push([1 + Math.floor(r() * 40), 1 + Math.floor(r() * 300)]);
    for (const shape of shapes) {
      const n = shape[shape.length - 1]!;
      const x = randomArray(shape.reduce((a, b) => a * b, 1), r).map((v) => v * 80);
      await device.scopeAsync(async () => {
        const y = softmax(device.tensor(shape, 'f32', x));
        assertClose(await y.read(), softmaxReference(x, n), { atol: 1e-6, rtol: 1e-5, label: `softmax [${shape.join(',')}]` });
      });
    }
    await device.scopeAsync(() => assertThrows(() => softmax(device.tensor([2, 3], 'f16')), ShapeError, /f32/));
  },

};
