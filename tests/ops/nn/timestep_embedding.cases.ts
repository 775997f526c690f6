import { ShapeError } from '../../../src/errors';
import { timestepEmbedding } from '../../../src/models/embeddings';
import { sinusoidalEmbedding } from '../../../src/ops/nn/timestep_embedding';
import { assertClose, assertThrows, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

export const cases: Cases = {
  'sinusoidal timestep embedding matches the float64 table (timesteps 0..999, odd and even dims, both orders)': async ({ device }) => {
    const r = rng(42);
    const problems: [number[], number, boolean, number][] = [
      [[0], 2, true, 0], [[999, 1, 500], 320, true, 0], [[37.5, 801], 33, false, 1], [[999], 1280, true, 0], [[3, 4, 5, 6, 7], 7, false, 0],
    ];
    while (problems.length < 20) problems.push([Array.from({ length: 1 + Math.floor(r() * 6) }, () => Math.floor(r() * 1000)), 2 + Math.floor(r() * 300), r() < 0.5, r() < 0.5 ? 0 : 1]);
    for (const [ts, dim, flip, shift] of problems) {
      await device.scopeAsync(async () => {
        const y = sinusoidalEmbedding(device.tensor([ts.length], 'f32', ts), dim, { flipSinToCos: flip, downscaleFreqShift: shift });
        // The same f32 arguments as the table; only sin/cos (after range reduction) may differ by a few ulp.
        assertClose(await y.read(), timestepEmbedding(ts, dim, flip, shift), { atol: 5e-7, rtol: 0, label: `t=[${ts.join(',')}] dim=${dim} flip=${flip} shift=${shift}` });
      });
    }
    await device.scopeAsync(() => assertThrows(() => sinusoidalEmbedding(device.tensor([2, 1]), 8), ShapeError, /\[N\]/));
  },
};
