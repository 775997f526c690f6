/**
 * The shipped flap-mini (models/flap-mini/, f16 weights) against the PyTorch reference running the same file:
 * one clip of a short generation (weights-tools/train/parity.py wrote the golden outputs). A guided model's guides
 * are drawn by the WebGPU head renderer here and by the PyTorch rasteriser there, so the guided path is covered
 * end to end. Until a model is shipped the case says so and passes; once models/flap-mini exists its fixture
 * must exist too.
 */
import { parseConfig } from '../../src/models/config';
import { HeadRenderer } from '../../src/render/head';
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
    const cfg = parseConfig(JSON.parse(new TextDecoder().decode(config)));
    const guide = cfg.unet.guide;
    const asset = guide ? await repoBytes('models/flap-mini/head_asset.safetensors', ctx.where) : undefined;
    if (guide && !asset) throw new Error('a guided flap-mini needs models/flap-mini/head_asset.safetensors');
    const head = asset ? await HeadRenderer.load(ctx.device, asset) : undefined;
    try {
      if (head && guide) await head.prepareGuides(guide);
      await checkGeneration(ctx, cfg, weights, 'mini_generation.safetensors', 40, head && guide ? (c) => head.renderGuides(c, guide) : undefined);
    } finally {
      head?.destroy();
    }
  },
};
