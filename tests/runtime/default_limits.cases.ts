/**
 * The engine on a device opened with WebGPU's default limits only (`createDevice({ limits: 'default' })`), the
 * device any page gets on any adapter: the `test` generation matches the reference as on the adapter's limits,
 * the shipped flap-mini generates a clip, and a tensor over one binding is refused with a typed error naming it
 * rather than a WebGPU validation error. With bindings capped further (`maxStorageBufferBindingSize`), the
 * splitting path: feed-forward rows, decoded frames and the guidance halves run in parts that fit, with the
 * same results, and work that cannot be split is refused before it starts.
 */
import testConfig from '../../weights-tools/configs/test.json';
import { LimitExceededError } from '../../src/errors';
import { Flap } from '../../src/flap';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import { decodeFrames, denoiseClip, gaussianNoise, reference, releaseReference, type ReferenceState } from '../../src/models/pipeline';
import { unary } from '../../src/ops/math/unary';
import type { FlapDevice } from '../../src/runtime/device';
import { assert, assertThrows } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, repoBytes, toChannelsLast } from '../harness/fixtures';
import { checkGeneration } from '../models/generation.cases';

/** WebGPU's default limits (the specification's table); a device opened with `limits: 'default'` reports these. */
const config = parseConfig(testConfig);
const KiB = 1024;

/** One clip of the test config denoised on `device` from fixed inputs (2 guided DDIM steps): its latents. */
async function clipLatents(device: FlapDevice, where: 'node' | 'chromium'): Promise<Float32Array> {
  const model = await FlapModel.load(device, config, await fixtureBytes('test_weights.safetensors', where));
  const fx = await loadFixture('test_generation.safetensors', where);
  const image = toChannelsLast({ shape: [1, ...fx.get('image')!.shape], data: fx.get('image')!.data });
  const refCoeffs = fx.get('ref_coeffs')!.data;
  const ref = reference(model, device.tensor(image.shape, 'f32', image.data), refCoeffs);
  const { frames_per_clip: f, motion_frames: m, height, width } = config.video;
  const [h, w] = [height / 8, width / 8];
  const coeffs = fx.get('coefficients')!.data;
  try {
    const out = device.scope(() =>
      denoiseClip(model, device.tensor([f, h, w, 4], 'f32', gaussianNoise(f * h * w * 4, 5)), device.tensor([f, 120], 'f32', coeffs.subarray(m * 120, (m + f) * 120)),
        device.tensor([m, h, w, 4], 'f32', gaussianNoise(m * h * w * 4, 6)), device.tensor([m, 120], 'f32', coeffs.subarray(0, m * 120)), ref,
        { sampler: 'ddim', steps: 2, guidanceScale: config.scheduler.default_guidance_scale }),
    ).keep();
    const values = await out.read();
    out.release();
    return values;
  } finally {
    releaseReference(ref);
    model.release();
  }
}

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

  // The splitting path is plain TypeScript, the same in both places: Node runs it.
  'bindings capped at 256 KiB: the test generation with feed-forward rows and decoded frames split matches the reference': async (ctx) => {
    if (ctx.where !== 'node') return ctx.log('covered in Node');
    const cap = 256 * KiB;
    const device = await ctx.openDevice({ limits: 'default', maxStorageBufferBindingSize: cap });
    const [h, w] = [config.video.height / 8, config.video.width / 8];
    // What must split here: GEGLU's [rows, 2·inner] at the first level (2 × 5 frames × 64 pixels, inner 128),
    // and a clip's decoded frames (one frame fits, not two).
    const gegluBytes = 2 * (config.video.frames_per_clip + config.video.motion_frames) * h * w * 2 * 4 * config.unet.block_out_channels[0]! * 4;
    const frameBytes = new FlapModel(config).autoencoder.decodeActivationBytes(h, w);
    assert(gegluBytes > cap && frameBytes <= cap && 2 * frameBytes > cap, `the cap does not force the splits (GEGLU ${gegluBytes}, a frame ${frameBytes})`);
    await checkGeneration({ ...ctx, device }, config, await fixtureBytes('test_weights.safetensors', ctx.where), 'test_generation.safetensors', 45);
  },

  'bindings capped at 160 KiB: the guidance halves run one after the other, with the latents of one batch': async (ctx) => {
    if (ctx.where !== 'node') return ctx.log('covered in Node');
    const cap = 160 * KiB;
    const [h, w] = [config.video.height / 8, config.video.width / 8];
    const frames = config.video.frames_per_clip + config.video.motion_frames;
    const unet = new FlapModel(config).unet;
    assert(unet.widestActivationBytes(2 * frames, h, w) > cap && unet.widestActivationBytes(frames, h, w) <= cap, 'the cap does not force the halves apart');
    const split = await clipLatents(await ctx.openDevice({ limits: 'default', maxStorageBufferBindingSize: cap }), ctx.where);
    const whole = await clipLatents(ctx.device, ctx.where);
    const scale = Math.max(1, ...whole.map(Math.abs));
    const err = Math.max(...split.map((v, i) => Math.abs(v - whole[i]!)));
    ctx.log(`split halves vs one batch: max |a - b| = ${err.toExponential(2)} (bound ${(1e-5 * scale).toExponential(2)})`);
    assert(err <= 1e-5 * scale, `the halves give other latents (max |a - b| ${err})`);
  },

  'work that cannot be split is refused before it starts, naming its size and the limit': async (ctx) => {
    if (ctx.where !== 'node') return ctx.log('covered in Node');
    const cap = 64 * KiB;
    const device = await ctx.openDevice({ limits: 'default', maxStorageBufferBindingSize: cap });
    const model = new FlapModel(config);
    const [h, w] = [config.video.height / 8, config.video.width / 8];
    const { frames_per_clip: f, motion_frames: m } = config.video;
    try {
      // Shapes alone decide both refusals, so the modules need no weights.
      const noRef: ReferenceState = { latent: device.tensor([1, h, w, 4]), keyValues: new Map() };
      const clip = () => denoiseClip(model, device.tensor([f, h, w, 4]), device.tensor([f, 120]), device.tensor([m, h, w, 4]), device.tensor([m, 120]), noRef, { sampler: 'ddim', steps: 1, guidanceScale: 2 });
      const dispatches = device.stats.dispatches;
      const unetErr = await assertThrows(() => device.scope(clip), LimitExceededError);
      assert(unetErr.message.includes(String(model.unet.widestActivationBytes(f + m, h, w))) && unetErr.message.includes(String(cap)), `not named: ${unetErr.message}`);
      const frameErr = await assertThrows(() => decodeFrames(model, device.tensor([1, h, w, 4])), LimitExceededError);
      assert(frameErr.message.includes(String(model.autoencoder.decodeActivationBytes(h, w))) && frameErr.message.includes(String(cap)), `not named: ${frameErr.message}`);
      assert(device.stats.dispatches === dispatches, `${device.stats.dispatches - dispatches} dispatches ran before the refusal`);
      ctx.log(`${unetErr.message}\n${frameErr.message}`);
    } finally {
      model.release();
    }
  },
};
