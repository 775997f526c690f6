/**
 * The shipped flap-mini (models/flap-mini/, f16 weights) against the PyTorch reference running the same file:
 * one clip of a short generation (weights-tools/train/parity.py wrote the golden outputs). Until a model is
 * shipped the case says so and passes; once models/flap-mini exists its fixture must exist too.
 */
import { parseConfig } from '../../src/models/config';
import type { Cases } from '../harness/cases';
import { repoBytes } from '../harness/fixtures';
import { checkGeneration } from './generation.cases';

export const cases: Cases = {
  'flap-mini as shipped: a clip of 2 guided DDIM steps → frames, as the reference running the same weights (PSNR ≥ 40 dB)': async (ctx) => {
    const [config, weights, fixture] = await Promise.all(
      ['models/flap-mini/config.json', 'models/flap-mini/weights.safetensors', 'tests/fixtures/mini_generation.safetensors'].map((p) => repoBytes(p, ctx.where)),
    );
    if (!config && !weights) {
      ctx.log('models/flap-mini is not shipped yet: nothing to compare');
      return;
    }
    if (!config || !weights || !fixture) throw new Error('models/flap-mini needs config.json, weights.safetensors and tests/fixtures/mini_generation.safetensors (weights-tools/train/parity.py)');
    await checkGeneration(ctx, parseConfig(JSON.parse(new TextDecoder().decode(config))), weights, 'mini_generation.safetensors', 40);
  },
};
