import { ShapeError } from '../../../src/errors';
import { groupNorm, layerNorm, type NormVariant } from '../../../src/ops/nn/norm';
import { assertClose, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

/** Float64 reference of group-norm over x [N, P, C] with G groups (layer-norm: P = 1, G = 1). */
function reference(x: Float32Array, n: number, p: number, c: number, g: number, w: Float32Array, b: Float32Array, eps: number, silu: boolean): Float32Array {
  const out = new Float32Array(x.length);
  const cg = c / g;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < g; k++) {
      let s = 0;
      for (let q = 0; q < p; q++) for (let j = 0; j < cg; j++) s += x[(i * p + q) * c + k * cg + j]!;
      const mean = s / (p * cg);
      let v = 0;
      for (let q = 0; q < p; q++) for (let j = 0; j < cg; j++) v += (x[(i * p + q) * c + k * cg + j]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / (p * cg) + eps);
      for (let q = 0; q < p; q++) {
        for (let j = 0; j < cg; j++) {
          const ch = k * cg + j;
          const at = (i * p + q) * c + ch;
          let y = (x[at]! - mean) * inv * w[ch]! + b[ch]!;
          if (silu) y = y / (1 + Math.exp(-y));
          out[at] = y;
        }
      }
    }
  }
  return out;
}

/** Both variants on every adapter: `thread` is the CPU default, `fused` the GPU one. */
const VARIANTS: NormVariant[] = ['fused', 'thread'];

export const cases: Cases = {
  'group-norm (+SiLU) on 24 channels-last shapes: odd sizes, 1 to 32 groups, large means': async ({ device, log }) => {
    const r = rng(11);
    const shapes: [number, number, number, number, number][] = [
      // N, H, W, C, groups
      [1, 1, 1, 1, 1], [2, 3, 5, 6, 3], [1, 7, 7, 32, 32], [3, 4, 4, 12, 4], [1, 16, 16, 48, 8], [2, 1, 13, 5, 5],
      [1, 9, 11, 96, 16], [2, 8, 8, 320, 32], [1, 2, 2, 64, 1], [5, 3, 3, 7, 1],
    ];
    while (shapes.length < 24) {
      const g = [1, 2, 3, 4, 8, 16, 32][Math.floor(r() * 7)]!;
      shapes.push([1 + Math.floor(r() * 3), 1 + Math.floor(r() * 12), 1 + Math.floor(r() * 12), g * (1 + Math.floor(r() * 5)), g]);
    }
    for (const [i, [n, h, w, c, g]] of shapes.entries()) {
      const offset = i % 4 === 3 ? 1000 : 0; // large mean, small spread
      const x = randomArray(n * h * w * c, r).map((v) => v + offset);
      const wt = randomArray(c, r).map((v) => 1 + 0.5 * v);
      const b = randomArray(c, r);
      const silu = i % 2 === 0;
      await device.scopeAsync(async () => {
        const want = reference(x, n, h * w, c, g, wt, b, 1e-5, silu);
        for (const variant of VARIANTS) {
          const y = groupNorm(device.tensor([n, h, w, c], 'f32', x), device.tensor([c], 'f32', wt), device.tensor([c], 'f32', b), g, 1e-5, { silu, variant });
          const rep = assertClose(await y.read(), want, { atol: 2e-4, rtol: 1e-4, label: `${variant} [${n},${h},${w},${c}] g=${g}` });
          if (i < 3) log(`${variant} [${n},${h},${w},${c}] g=${g}: max abs err ${rep.maxAbsError.toExponential(2)}`);
        }
      });
    }
  },

  'layer-norm over the last dimension on 20 shapes, rows longer than a workgroup': async ({ device }) => {
    const r = rng(12);
    const shapes = [[1], [3, 1], [7, 5], [2, 3, 32], [1, 1000], [64, 48], [3, 777], [129, 17]];
    while (shapes.length < 20) shapes.push([1 + Math.floor(r() * 40), 1 + Math.floor(r() * 300)]);
    for (const [i, shape] of shapes.entries()) {
      const c = shape[shape.length - 1]!;
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const x = randomArray(rows * c, r).map((v) => v * 3 + (i % 3 === 2 ? 500 : 0));
      const wt = randomArray(c, r);
      const b = randomArray(c, r);
      await device.scopeAsync(async () => {
        for (const variant of VARIANTS) {
          const y = layerNorm(device.tensor(shape, 'f32', x), device.tensor([c], 'f32', wt), device.tensor([c], 'f32', b), 1e-5, { variant });
          assertClose(await y.read(), reference(x, rows, 1, c, 1, wt, b, 1e-5, false), { atol: 2e-4, rtol: 1e-4, label: `${variant} [${shape.join(',')}]` });
        }
      });
    }
  },

  'bad groups and affine shapes are refused': async ({ device }) => {
    await device.scopeAsync(async () => {
      const x = device.tensor([1, 2, 2, 6]);
      const w = device.tensor([6]);
      await assertThrows(() => groupNorm(x, w, w, 4, 1e-5), ShapeError, /groups/);
      await assertThrows(() => groupNorm(x, device.tensor([5]), w, 3, 1e-5), ShapeError, /weight/);
    });
  },
};
