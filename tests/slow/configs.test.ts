/**
 * Opt-in (FLAP_SLOW=1): the `mini` config from a reference-written f16 file runs one clip in Node, and the `sd15`
 * config (SD-1.5 / wav2vec2-base tensor names, ~1.9 B parameters, a 3.8 GB file streamed from disk) runs one
 * guided denoising step of one frame at an 8x8 latent; both print time, peak GPU memory and weight memory on the
 * adapter. (sd15's VAE is loaded but not run: its mid-block attention has a 512-wide head, above the attention
 * kernel's limit, so the reference latent here is random.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import mini from '../../weights-tools/configs/mini.json';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import { denoiseClip, gaussianNoise, reference, releaseReference } from '../../src/models/pipeline';
import { createDevice } from '../../src/runtime/device';
import { neutralCoefficients } from '../../src/flap';
import sd15 from '../../weights-tools/configs/sd15.json';
import { Sampler } from '../../src/ops/sampler/cfg_step';
import { concat, slice } from '../../src/ops/tensor/slab';
import { scheduleConfig } from '../../src/models/pipeline';
import { fileSource } from '../../src/weights/node';

const slow = process.env.FLAP_SLOW === '1';

function writeWeights(config: string, dir: string): string {
  const out = join(dir, `${config}.safetensors`);
  execFileSync('/usr/bin/python3', ['weights-tools/write_weights.py', '--config', config, '--out', out], { stdio: 'inherit' });
  return out;
}

describe.skipIf(!slow)('[node] larger configs (FLAP_SLOW=1)', () => {
  it('mini: one clip of 8 frames (+2 motion), 2 DPM-Solver++ steps with guidance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-'));
    const device = await createDevice();
    try {
      const config = parseConfig(mini);
      const model = await FlapModel.load(device, config, new Uint8Array(readFileSync(writeWeights('mini', dir))));
      const weights = device.stats.bytesInUse;
      const { height, width, frames_per_clip: f, motion_frames: m } = config.video;
      const [h, w] = [height / 8, width / 8];
      const ref = reference(model, device.tensor([1, height, width, 3]), neutralCoefficients());
      await device.sync();
      device.resetPeak();
      const steps = 2;
      const coeffs = new Float32Array(f * 120);
      for (let i = 0; i < f; i++) coeffs.set(neutralCoefficients(), i * 120);
      const t0 = performance.now();
      const out = device.scope(() =>
        denoiseClip(model, device.tensor([f, h, w, 4], 'f32', gaussianNoise(f * h * w * 4, 1)), device.tensor([f, 120], 'f32', coeffs),
          device.tensor([m, h, w, 4]), device.tensor([m, 120]), ref,
          { sampler: 'dpmpp_2m', steps, guidanceScale: 2 }),
      ).keep();
      await device.sync();
      const ms = (performance.now() - t0) / steps;
      const values = await out.read();
      expect(values.every(Number.isFinite)).toBe(true);
      console.log(`mini on ${device.info.description || device.info.vendor}: ${ms.toFixed(0)} ms per denoising step (batch ${2 * (f + m)} at ${h}x${w}), ` +
        `peak GPU memory ${(device.stats.peakBytesInUse / 1e6).toFixed(1)} MB (weights ${(weights / 1e6).toFixed(1)} MB)`);
      out.release();
      releaseReference(ref);
      model.release();
    } finally {
      device.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000); // SwiftShader: minutes per step

  it('sd15: loads a reference-written f16 file with the real names; one guided step of 1 frame at 8x8 latents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-'));
    const device = await createDevice();
    try {
      const config = parseConfig(sd15);
      const path = writeWeights('sd15', dir);
      let t0 = performance.now();
      const source = await fileSource(path);
      const model = await FlapModel.load(device, config, source).finally(() => source.close?.());
      await device.sync();
      const loadS = (performance.now() - t0) / 1000;
      const weights = device.stats.bytesInUse;
      device.resetPeak();
      const [h, w] = [8, 8];
      const coeffs = device.tensor([1, 120], 'f32', neutralCoefficients());
      const { pose, expr } = model.coeff_encoder.forward(coeffs);
      const features = model.reference_net.features(device.tensor([1, h, w, 4], 'f32', gaussianNoise(h * w * 4, 3)), pose, config.unet.expression_attention ? expr : undefined);
      const keyValues = model.unet.referenceKeyValues(features);
      for (const f of features.values()) f.release();
      await device.sync();
      const sampler = new Sampler('ddim', 20, 7.5, scheduleConfig(config));
      t0 = performance.now();
      const out = device.scope(() => {
        const x = device.tensor([1, h, w, 4], 'f32', gaussianNoise(h * w * 4, 1));
        const zeros = (t: typeof pose) => device.tensor(t.shape, 'f32', new Float32Array(t.size));
        const eps = model.unet.forward(concat([x, x], 0), [sampler.timesteps[0]!, sampler.timesteps[0]!], {
          pose: concat([pose, zeros(pose)], 0),
          expr: config.unet.expression_attention ? concat([expr, zeros(expr)], 0) : undefined,
          frames: 1,
          reference: keyValues,
        });
        return sampler.step(0, x, slice(eps, 0, 0, 1), 'two', slice(eps, 0, 1, 2));
      }).keep();
      const values = await out.read();
      const stepS = (performance.now() - t0) / 1000;
      expect(values.every(Number.isFinite)).toBe(true);
      console.log(`sd15 on ${device.info.description || device.info.vendor}: load ${loadS.toFixed(0)} s, weights ${(weights / 1e9).toFixed(2)} GB on the GPU ` +
        `(f16 linear/conv weights, f32 norms and biases), one guided step (batch 2 at ${h}x${w}) ${stepS.toFixed(0)} s, ` +
        `peak above the weights ${((device.stats.peakBytesInUse - weights) / 1e6).toFixed(0)} MB`);
      out.release();
      for (const t of [coeffs, pose, expr]) t.release();
      for (const kv of keyValues.values()) {
        kv.k.release();
        kv.v.release();
      }
      sampler.dispose();
      model.release();
    } finally {
      device.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 3_600_000);
});
