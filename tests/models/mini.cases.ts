/**
 * The shipped flap-mini (models/flap-mini/, f16 weights) against the PyTorch reference running the same file:
 * one clip of a short generation (weights-tools/train/parity.py wrote the golden outputs). A guided model's UNet
 * gets the guides the PyTorch rasteriser drew, and the WebGPU head renderer's guides for the same coefficients
 * are compared with those (≥ 42 dB), so both halves of the guided path are held to their own bounds. Until a
 * model is shipped the case says so and passes; once models/flap-mini exists its fixture must exist too.
 */
import { parseConfig } from '../../src/models/config';
import { estimates, toCoefficients } from '../../src/models/estimator';
import { FlapModel } from '../../src/models/model';
import type { GuideSource } from '../../src/models/pipeline';
import { HeadRenderer } from '../../src/render/head';
import { assert, psnr } from '../harness/assert';
import { loadFixture, parity, toChannelsLast } from '../harness/fixtures';
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
    const asked: Float32Array[] = [];
    try {
      let guides: GuideSource | undefined;
      if (head && guide) {
        await head.prepareGuides(guide);
        // The trained guide encoder turns a guide's anti-aliased edge pixels (guide.py supersamples, the GPU uses
        // MSAA: 48-50 dB apart) into latent differences above the bound; so the UNet gets the guides the reference
        // drew, and the ones the WebGPU renderer draws for the same coefficients are compared with them below.
        const fx = await loadFixture('mini_generation.safetensors', ctx.where);
        const byFrames = new Map(['reference_guide', 'unet_guide'].map((k) => {
          const t = fx.get(k)!;
          const nchw = t.shape.length === 3 ? { shape: [1, ...t.shape], data: t.data } : t;
          return [nchw.shape[0]!, toChannelsLast(nchw)] as const;
        }));
        guides = (c) => {
          const frames = c.length / 120, want = byFrames.get(frames);
          if (!want) throw new Error(`the fixture has no guides for ${frames} frames`);
          asked.push(c.slice());
          return ctx.device.tensor(want.shape, 'f32', want.data);
        };
        await checkGeneration(ctx, cfg, weights, 'mini_generation.safetensors', 40, guides);
        assert(asked.length >= 2, `the generation asked for ${asked.length} guide batches`);
        for (const c of asked) {
          const frames = c.length / 120, t = head.renderGuides(c, guide);
          const db = psnr(await t.read(), byFrames.get(frames)!.data);
          t.release();
          ctx.log(`guides of ${frames} frame(s): PSNR ${db.toFixed(1)} dB against guide.py`);
          assert(db >= 42, `the WebGPU guides of ${frames} frame(s) are ${db.toFixed(1)} dB from guide.py's (< 42 dB)`);
        }
      } else await checkGeneration(ctx, cfg, weights, 'mini_generation.safetensors', 40);
    } finally {
      head?.destroy();
    }
  },

  'flap-mini\'s estimator reads the portrait and generated frames as the reference does (pose within 0.05°, the rest 1e-3)': async (ctx) => {
    const [config, weights] = await Promise.all(['models/flap-mini/config.json', 'models/flap-mini/weights.safetensors'].map((p) => repoBytes(p, ctx.where)));
    if (!config || !weights) {
      ctx.log('models/flap-mini is not shipped yet: nothing to compare');
      return;
    }
    const cfg = parseConfig(JSON.parse(new TextDecoder().decode(config)));
    if (!cfg.estimator) {
      ctx.log('the shipped flap-mini has no estimator yet');
      return;
    }
    const fx = await loadFixture('mini_generation.safetensors', ctx.where);
    const input = toChannelsLast(fx.get('estimator_input')!), want = fx.get('estimates')!;
    const model = await FlapModel.load(ctx.device, cfg, weights, { keepF16: false });
    try {
      const raw = ctx.device.scope(() => model.estimator!.forward(ctx.device.tensor(input.shape, 'f32', input.data))).keep();
      const got = estimates(await raw.read());
      raw.release();
      ctx.log(parity('estimates', got, want));
      const width = want.shape[1]!;
      for (let i = 0; i < got.length; i++) {
        const tol = i % width < 3 ? 0.05 : 1e-3;
        assert(Math.abs(got[i]! - want.data[i]!) <= tol, `estimate ${i % width} of image ${Math.floor(i / width)}: ${got[i]} vs ${want.data[i]}`);
      }
      const coeffs = toCoefficients(got);
      assert(coeffs.length === 120 * want.shape[0]! && coeffs.every(Number.isFinite), 'coefficients from the estimates');
    } finally {
      model.release();
    }
  },
};
