/**
 * Opt-in (FLAP_SLOW=1): the `mini` config from a reference-written f16 file runs one clip in Node, and the `sd15`
 * config (SD-1.5 / wav2vec2-base tensor names, ~1.9 B parameters, a 3.8 GB file streamed from disk, written with
 * the reference's outputs by make_sd15_case.py) runs the ReferenceNet, one guided denoising step of one frame at
 * an 8x8 latent and the VAE decode to 64x64 (its mid-block's one 512-wide attention head included), each matched
 * to PyTorch within the parity bound; both print time, peak GPU memory and weight memory on the adapter.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
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
import { readSafetensors, toFloat32 } from '../../src/weights/safetensors';
import type { Tensor } from '../../src/runtime/tensor';
import { parity, toChannelsLast, type FixtureTensor } from '../harness/fixtures';

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

  it('sd15: a real-layout f16 file; ReferenceNet, one guided UNet step and the VAE decode match PyTorch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-'));
    const device = await createDevice();
    try {
      const config = parseConfig(sd15);
      const [path, casePath] = [join(dir, 'sd15.safetensors'), join(dir, 'sd15_case.safetensors')];
      execFileSync('/usr/bin/python3', ['tests/slow/make_sd15_case.py', '--weights', path, '--case', casePath], { stdio: 'inherit' });
      const fx = new Map([...readSafetensors(new Uint8Array(readFileSync(casePath))).tensors]
        .map(([k, t]) => [k, { shape: [...t.shape], data: toFloat32(t.dtype, t.bytes) }]));
      const get = (key: string) => fx.get(key) ?? (() => { throw new Error(`case lacks ${key}`); })();
      const upload = (f: FixtureTensor) => device.tensor(f.shape, 'f32', f.data);
      const compare = async (label: string, actual: Tensor, expected: FixtureTensor) => console.log(parity(label, await actual.read(), expected));

      let t0 = performance.now();
      const source = await fileSource(path);
      const model = await FlapModel.load(device, config, source).finally(() => source.close?.());
      await device.sync();
      const loadS = (performance.now() - t0) / 1000;
      const weights = device.stats.bytesInUse;
      const fileBytes = statSync(path).size;
      device.resetPeak();

      const coeffs = upload(get('coeffs'));
      const { pose, expr } = model.coeff_encoder.forward(coeffs);
      const features = model.reference_net.features(upload(toChannelsLast(get('reference_latent'))), pose, expr);
      const firstKey = [...fx.keys()].find((k) => k.startsWith('reference_features.'))!;
      await compare(firstKey, features.get(firstKey.slice('reference_features.'.length))!, get(firstKey));
      const keyValues = model.unet.referenceKeyValues(features);
      for (const f of features.values()) f.release();

      const sampler = new Sampler('ddim', 20, 7.5, scheduleConfig(config));
      const timestep = get('timestep').data[0]!;
      expect(sampler.timesteps[0]).toBe(timestep);
      t0 = performance.now();
      const [eps, xPrev] = device.scope(() => {
        const x = upload(toChannelsLast(get('x')));
        const zeros = (t: Tensor) => device.tensor(t.shape, 'f32', new Float32Array(t.size));
        const eps = model.unet.forward(concat([x, x], 0), [timestep, timestep], {
          pose: concat([pose, zeros(pose)], 0),
          expr: concat([expr, zeros(expr)], 0),
          frames: 1,
          reference: keyValues,
        });
        return [eps, sampler.step(0, x, slice(eps, 0, 0, 1), 'two', slice(eps, 0, 1, 2))];
      }).map((t) => t.keep());
      await compare('eps (cond, uncond)', eps!, toChannelsLast(get('eps')));
      const stepS = (performance.now() - t0) / 1000;
      await compare('x_prev', xPrev!, toChannelsLast(get('x_prev')));

      t0 = performance.now();
      const image = device.scope(() => model.autoencoder.decode(upload(toChannelsLast(get('decode.input'))))).keep();
      await compare('VAE decode', image, toChannelsLast(get('decode.output')));
      const decodeS = (performance.now() - t0) / 1000;

      console.log(`sd15 on ${device.info.description || device.info.vendor}: load ${loadS.toFixed(0)} s; weights ${(weights / 1e9).toFixed(3)} GB on the GPU ` +
        `for a ${(fileBytes / 1e9).toFixed(3)} GB file (${(weights / fileBytes).toFixed(3)}x); one guided UNet step (batch 2 at 8x8) ${stepS.toFixed(0)} s; ` +
        `VAE decode 8x8 -> 64x64 ${decodeS.toFixed(0)} s; peak above the weights ${((device.stats.peakBytesInUse - weights) / 1e6).toFixed(0)} MB`);
      expect(weights).toBeLessThanOrEqual(1.1 * fileBytes);
      for (const t of [eps!, xPrev!, image, coeffs, pose, expr]) t.release();
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
