/**
 * The engine on a device opened with WebGPU's default limits only (`createDevice({ limits: 'default' })`), the
 * device any page gets on any adapter: the `test` generation matches the reference as on the adapter's limits,
 * the shipped flap-mini generates a clip, and a tensor over one binding is refused with a typed error naming it
 * rather than a WebGPU validation error.
 */
import testConfig from '../../weights-tools/configs/test.json';
import { LimitExceededError } from '../../src/errors';
import { Flap } from '../../src/flap';
import { parseConfig } from '../../src/models/config';
import { unary } from '../../src/ops/math/unary';
import { assert, assertThrows } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes, repoBytes } from '../harness/fixtures';
import { checkGeneration } from '../models/generation.cases';

/** WebGPU's default limits (the specification's table); a device opened with `limits: 'default'` reports these. */
const DEFAULTS = { maxStorageBufferBindingSize: 128 << 20, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };

export const cases: Cases = {
  'the device reports the default limits, not the adapter\'s': async ({ openDevice }) => {
    const device = await openDevice({ limits: 'default' });
    for (const [name, value] of Object.entries(DEFAULTS)) {
      const got = device.info.limits[name as keyof typeof DEFAULTS];
      assert(got === value, `${name}: ${got}, expected the default ${value}`);
    }
  },

  'test config: the whole generation on default limits matches the reference (PSNR ≥ 45 dB)': async (ctx) => {
    const device = await ctx.openDevice({ limits: 'default' });
    await checkGeneration({ ...ctx, device }, parseConfig(testConfig), await fixtureBytes('test_weights.safetensors', ctx.where), 'test_generation.safetensors', 45);
  },

  'flap-mini as shipped generates a clip on default limits': async (ctx) => {
    // Chromium only: a mini clip takes about a minute on SwiftShader and Node runs the same code (the case above).
    if (ctx.where === 'node') return ctx.log('covered in Chromium');
    const [config, weights, asset] = await Promise.all(
      ['config.json', 'weights.safetensors', 'head_asset.safetensors'].map((f) => repoBytes(`models/flap-mini/${f}`, ctx.where)),
    );
    if (!config || !weights) throw new Error('models/flap-mini is missing');
    const device = await ctx.openDevice({ limits: 'default' });
    const flap = await Flap.load({ config: JSON.parse(new TextDecoder().decode(config)), weights, headAsset: asset ?? undefined }, { device });
    try {
      const { width, height } = flap.model.config.video;
      const image = { data: new Uint8ClampedArray(width * height * 4).fill(140), width, height };
      // Half a second of a voiced tone: one clip.
      const audio = { samples: Float32Array.from({ length: 8000 }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900)), sampleRate: 16000 };
      const out = await flap.generate({ image, audio, steps: 1, seed: 0 });
      assert(out.frames.length > 0, 'no frames');
      const rgba = out.frames[0]!.rgba;
      let lo = 255, hi = 0;
      for (let i = 0; i < rgba.length; i += 4) (lo = Math.min(lo, rgba[i]!)), (hi = Math.max(hi, rgba[i]!));
      assert(hi - lo > 20, `the first frame is flat (red ${lo}..${hi})`);
    } finally {
      flap.model.release();
    }
  },

  'a tensor over maxStorageBufferBindingSize is refused with LimitExceededError naming it': async ({ openDevice }) => {
    const device = await openDevice({ limits: 'default' });
    const limit = device.info.limits.maxStorageBufferBindingSize;
    const big = device.tensor([limit / 4 + 64], 'f32', undefined, 'too big');
    try {
      const err = await assertThrows(() => device.scope(() => unary('silu', big)), LimitExceededError);
      assert(err.message.includes(`[${limit / 4 + 64}] f32`) && err.message.includes(String(limit)), `the error does not name the tensor and the limit: ${err.message}`);
      // Nothing half-built: the device still runs work afterwards.
      const small = device.tensor([3], 'f32', [1, 2, 3]);
      const y = device.scope(() => unary('relu', small)).keep();
      assert((await y.read()).join() === '1,2,3', 'the device is unusable after the refusal');
      small.release();
      y.release();
    } finally {
      big.release();
    }
  },
};
