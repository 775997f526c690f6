/**
 * The whole `test`-config generation against the PyTorch reference: 1 s of speech + a portrait →
 * coefficients → ReferenceNet → 7 clips of 2 guided DDIM steps (the reference's noise) → decoded frames,
 * which must match to PSNR ≥ 45 dB; every clip's latents and the coefficients are compared on the way. Also
 * checks the runtime rules: no readback inside the denoising loop and intermediates freed afterwards.
 */
import testConfig from '../../weights-tools/configs/test.json';
import { parseConfig, type FlapConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import { audioToCoefficients, decodeFrames, generateLatents, reference, releaseReference, type GuideSource } from '../../src/models/pipeline';
import { concat, slice } from '../../src/ops/tensor/slab';
import { assert } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity, toChannelsLast } from '../harness/fixtures';

/**
 * Runs a recorded reference generation (`fixture`, from gen_fixtures.py or train/parity.py) on `weights` and
 * compares coefficients, the reference latent, every clip's latents and the decoded frames (PSNR ≥ `minPsnr`).
 * A guided model's guides come from `guides` (the WebGPU head renderer: the path a user's generation takes).
 */
export async function checkGeneration(
  { device, where, log }: Parameters<Cases[string]>[0],
  config: FlapConfig,
  weights: Uint8Array,
  fixture: string,
  minPsnr: number,
  guides?: GuideSource,
): Promise<void> {
  const before = device.stats.bytesInUse;
  const model = await FlapModel.load(device, config, weights, { keepF16: false });
  const fx = await loadFixture(fixture, where);
  const get = (k: string) => {
    const v = fx.get(k);
    if (!v) throw new Error(`${fixture} lacks ${k}`);
    return v;
  };
  const refCoeffs = get('ref_coeffs').data;
  const coeffs = audioToCoefficients(model, device, get('audio').data, refCoeffs);
  log(parity('coefficients', await coeffs.read(), get('coefficients')));
  const image = toChannelsLast({ shape: [1, ...get('image').shape], data: get('image').data });
  const imageTensor = device.tensor(image.shape, 'f32', image.data);
  const ref = reference(model, imageTensor, refCoeffs, guides);
  imageTensor.release();
  log(parity('reference_latent', await ref.latent.read(), toChannelsLast({ shape: [1, ...get('reference_latent').shape], data: get('reference_latent').data })));

  const readbacks = device.stats.readbacks;
  const submits = device.stats.submits;
  // Denoise the reference's coefficients, so that the latents compare even where the audio head rounds apart.
  const latents = await generateLatents(model, device, get('coefficients').data, ref, refCoeffs, {
    sampler: 'ddim',
    steps: 2,
    guidanceScale: config.scheduler.default_guidance_scale,
    noise: (c) => toChannelsLast(get(`clip${c}.noise`)).data,
    guides,
  });
  assert(device.stats.readbacks === readbacks, `the denoising loop read back ${device.stats.readbacks - readbacks} times`);
  log(`${latents.length} clips × 2 steps: ${device.stats.submits - submits} submits, ${device.stats.dispatches} dispatches so far`);
  for (const [c, l] of latents.entries()) log(parity(`clip${c}.latents`, await l.read(), toChannelsLast(get(`clip${c}.latents`))));

  const total = get('coefficients').shape[0]!;
  const all = device.scope(() => slice(concat(latents, 0), 0, 0, total)).keep();
  const frames = await decodeFrames(model, all);
  const want = get('frames');
  const [, , h, w] = want.shape as [number, number, number, number];
  let se = 0;
  frames.forEach((rgba, i) => {
    for (let p = 0; p < h * w; p++) for (let ch = 0; ch < 3; ch++) se += (rgba[p * 4 + ch]! / 255 - want.data[((i * 3 + ch) * h * w) + p]!) ** 2;
  });
  const psnr = 10 * Math.log10(1 / (se / (frames.length * h * w * 3)));
  log(`frames: ${frames.length} at ${w}x${h}, PSNR ${psnr.toFixed(1)} dB against the reference`);
  assert(frames.length === total, `${frames.length} frames, expected ${total}`);
  assert(psnr >= minPsnr, `PSNR ${psnr.toFixed(1)} dB < ${minPsnr} dB`);

  for (const t of [coeffs, all, ...latents]) t.release();
  releaseReference(ref);
  model.release();
  device.flush();
  assert(device.stats.bytesInUse === before, `bytes in use ${device.stats.bytesInUse} != ${before} before the run: something leaked`);
}

export const cases: Cases = {
  'audio + portrait → coefficients → 2 guided DDIM steps per clip → frames, as the reference (PSNR ≥ 45 dB)': async (ctx) => {
    await checkGeneration(ctx, parseConfig(testConfig), await fixtureBytes('test_weights.safetensors', ctx.where), 'test_generation.safetensors', 45);
  },
};
