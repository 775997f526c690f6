/**
 * Reproducibility, in Node and in Chromium: one seed gives the same frames twice, another seed other frames
 * (the `test` config, untrained weights, 1 step: what is checked is the engine's noise and determinism).
 */
import testConfig from '../weights-tools/configs/test.json';
import { Flap } from '../src/flap';
import { assert } from './harness/assert';
import type { Cases } from './harness/cases';
import { fixtureBytes } from './harness/fixtures';

const portrait = { data: new Uint8ClampedArray(64 * 64 * 4).fill(128), width: 64, height: 64 };
const speech = (seconds: number) => ({ samples: Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900)), sampleRate: 16000 });

export const cases: Cases = {
  'one seed gives the same frames twice, another seed other frames': async ({ device, where }) => {
    const flap = await Flap.load({ config: testConfig, weights: await fixtureBytes('test_weights.safetensors', where) }, { device });
    try {
      const run = async (seed: number) => (await flap.generate({ image: portrait, audio: speech(8 / 25 + 0.01), steps: 1, seed })).frames.map((f) => f.rgba);
      const [a, b, c] = [await run(3), await run(3), await run(4)];
      const same = (x: Uint8ClampedArray[], y: Uint8ClampedArray[]) => x.every((f, i) => f.every((v, j) => v === y[i]![j]));
      assert(same(a, b), 'seed 3 twice gave different frames');
      assert(!same(a, c), 'seeds 3 and 4 gave the same frames');
    } finally {
      flap.model.release();
    }
  },
};
