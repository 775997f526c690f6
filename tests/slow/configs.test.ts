/**
 * Opt-in (FLAP_SLOW=1): the `mini` config from a reference-written f16 file runs one clip in Node and prints time
 * per step, peak GPU memory and weight memory on the adapter. (No sd15 case yet: its VAE mid-block needs a
 * 512-wide attention head, above the attention kernel's limit.)
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

const slow = process.env.FLAP_SLOW === '1';

function writeWeights(config: string, dir: string): Uint8Array {
  const out = join(dir, `${config}.safetensors`);
  execFileSync('/usr/bin/python3', ['weights-tools/write_weights.py', '--config', config, '--out', out], { stdio: 'inherit' });
  return new Uint8Array(readFileSync(out));
}

describe.skipIf(!slow)('[node] larger configs (FLAP_SLOW=1)', () => {
  it('mini: one clip of 8 frames (+2 motion), 2 DPM-Solver++ steps with guidance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-'));
    const device = await createDevice();
    try {
      const config = parseConfig(mini);
      const model = await FlapModel.load(device, config, writeWeights('mini', dir));
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
});
