// bench/unet: one denoising step of the `mini` config (8 frames + 2 motion frames, guidance batch 2, 16x16
// latents) on this runtime and on ONNX Runtime Web (WebGPU and WASM execution providers) running the reference's
// ONNX export with the same weights (bench/onnx/models/mini/weights.safetensors, f32 on both sides).
// Ours: the whole step of the generation loop (both guidance halves in one batch, sampler update), waited for on
// the GPU. ORT: the exported step graph run twice (conditional, unconditional), outputs read back.
import mini from '../weights-tools/configs/mini.json';
import { parseConfig } from '../src/models/config';
import { FlapModel } from '../src/models/model';
import { denoiseClip, gaussianNoise, reference, releaseReference } from '../src/models/pipeline';
import { createDevice } from '../src/runtime/device';
import { neutralCoefficients } from '../src/flap';
import { markdownTable, randomData, timeMedian } from './stats';
import type { Ort } from './peers';

export interface UnetRow {
  adapter: string;
  config: string;
  frames: number;
  motionFrames: number;
  latent: [number, number];
  msOurs: number;
  msOrtWebgpu: number | null;
  msOrtWasm: number | null;
  ortWasmThreads: number;
  peakBytesOurs: number;
  weightBytesOurs: number;
  dispatchesPerStep: number;
  submitsPerStep: number;
  errors?: string[];
}

interface ModelManifest {
  models: { file: string; part: string; frames: number; inputs: { name: string; shape: number[]; dtype: string }[] }[];
}

/** Times at most `reps` runs but stops early once `budgetMs` is spent (at least one measured run). */
async function timeWithin(run: () => Promise<void>, reps: number, budgetMs: number): Promise<number> {
  const t0 = performance.now();
  await run(); // warm-up: pipelines, weights upload
  const warm = performance.now() - t0;
  const n = Math.max(1, Math.min(reps, Math.floor(budgetMs / Math.max(warm, 1))));
  return timeMedian(run, n, 0);
}

async function ortStep(ort: Ort, file: string, inputs: ModelManifest['models'][0]['inputs'], ep: string): Promise<{ run: () => Promise<void>; release: () => Promise<void> }> {
  const bytes = new Uint8Array(await (await fetch(`/bench/onnx/models/mini/${file}`)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: [ep] });
  const feeds = (uncond: boolean) => {
    const out: Record<string, unknown> = {};
    inputs.forEach((input, i) => {
      const n = input.shape.reduce((a, b) => a * b, 1);
      if (input.dtype === 'int64') out[input.name] = new ort.Tensor('int64', new BigInt64Array(n).fill(500n), input.shape);
      else {
        const zero = uncond && input.name.endsWith('_tokens');
        out[input.name] = new ort.Tensor('float32', zero ? new Float32Array(n) : randomData(n, i + 1), input.shape);
      }
    });
    return out;
  };
  const cond = feeds(false), uncond = feeds(true);
  return {
    run: async () => {
      for (const f of [cond, uncond]) {
        const out = await session.run(f);
        for (const t of Object.values(out)) {
          await t.getData();
          t.dispose();
        }
      }
    },
    release: () => session.release(),
  };
}

export async function benchUnet(options: { reps: number }): Promise<{ rows: UnetRow[]; markdown: string }> {
  const ort = (window as unknown as { ort: Ort }).ort;
  ort.env.wasm.wasmPaths = '/vendor/onnxruntime-web/dist/';
  const threads = self.crossOriginIsolated ? navigator.hardwareConcurrency : 1;
  ort.env.wasm.numThreads = threads;
  const manifest = (await (await fetch('/bench/onnx/models/mini/manifest.json')).json()) as ModelManifest;
  const step = manifest.models.find((m) => m.part === 'unet_step');
  if (!step) throw new Error('bench/onnx/models/mini has no unet_step export');

  const config = parseConfig(mini);
  const { height, width, frames_per_clip: f, motion_frames: m } = config.video;
  const [h, w] = [height / 8, width / 8];
  if (step.frames !== f + m) throw new Error(`the ONNX step has ${step.frames} frames, the loop runs ${f + m}`);
  const errors: string[] = [];

  const device = await createDevice();
  const adapter = device.info.description || `${device.info.vendor} ${device.info.architecture}`.trim();
  const weights = new Uint8Array(await (await fetch('/bench/onnx/models/mini/weights.safetensors')).arrayBuffer());
  const model = await FlapModel.load(device, config, weights, { keepF16: false });
  const weightBytesOurs = device.stats.bytesInUse;
  const ref = reference(model, device.tensor([1, height, width, 3], 'f32', randomData(height * width * 3)), neutralCoefficients());
  const coeffs = new Float32Array((f + m) * 120);
  for (let i = 0; i < f + m; i++) coeffs.set(neutralCoefficients(), i * 120);
  const clip = async (steps: number) => {
    const out = device.scope(() =>
      denoiseClip(model, device.tensor([f, h, w, 4], 'f32', gaussianNoise(f * h * w * 4, 1)), device.tensor([f, 120], 'f32', coeffs.subarray(m * 120)),
        device.tensor([m, h, w, 4], 'f32', gaussianNoise(m * h * w * 4, 2)), device.tensor([m, 120], 'f32', coeffs.subarray(0, m * 120)), ref,
        { sampler: 'dpmpp_2m', steps, guidanceScale: 2 }),
    ).keep();
    await device.sync();
    out.release();
  };
  await clip(1);
  const counts = async (steps: number) => {
    const [d, s] = [device.stats.dispatches, device.stats.submits];
    await clip(steps);
    return [device.stats.dispatches - d, device.stats.submits - s];
  };
  const [d1, s1] = await counts(1);
  const [d2, s2] = await counts(2);
  device.resetPeak();
  const msOurs = await timeMedian(() => clip(1), options.reps, 0);
  const peakBytesOurs = device.stats.peakBytesInUse;
  releaseReference(ref);
  model.release();
  device.destroy();
  console.log(`ours: ${msOurs.toFixed(0)} ms per step`);

  const peer = async (ep: string) => {
    let s: Awaited<ReturnType<typeof ortStep>> | undefined;
    try {
      s = await ortStep(ort, step.file, step.inputs, ep);
      const ms = await timeWithin(s.run, options.reps, 120_000);
      console.log(`ort ${ep}: ${ms.toFixed(0)} ms per step`);
      return ms;
    } catch (e) {
      errors.push(`ort ${ep}: ${(e as Error).message}`);
      return null;
    } finally {
      await s?.release();
    }
  };
  const msOrtWebgpu = await peer('webgpu');
  const msOrtWasm = await peer('wasm');
  const row: UnetRow = {
    adapter,
    config: 'mini',
    frames: f,
    motionFrames: m,
    latent: [h, w],
    msOurs,
    msOrtWebgpu,
    msOrtWasm,
    ortWasmThreads: threads,
    peakBytesOurs,
    weightBytesOurs,
    dispatchesPerStep: d2 - d1,
    submitsPerStep: s2 - s1,
    ...(errors.length ? { errors } : {}),
  };
  const markdown =
    `# UNet step benchmark\n\nAdapter: ${adapter}. Config mini: ${f} frames + ${m} motion frames, guidance batch 2, ${h}x${w} latents, ` +
    `f32 weights on both sides. Ours: median of ${options.reps} steps (whole loop step, GPU waited for). ` +
    `ORT: the reference's ONNX step run for both guidance halves, outputs read back; WASM with ${threads} thread(s).\n\n` +
    markdownTable(
      ['runtime', 'ms per step', 'ratio to ours', 'notes'],
      [
        ['flap-webgpu', msOurs, 1, `peak ${(peakBytesOurs / 1e6).toFixed(1)} MB (weights ${(weightBytesOurs / 1e6).toFixed(1)} MB), ${d2 - d1} dispatches and ${s2 - s1} submits per step`],
        ['ORT Web, WebGPU EP', msOrtWebgpu, msOrtWebgpu && msOrtWebgpu / msOurs, ''],
        ['ORT Web, WASM EP', msOrtWasm, msOrtWasm && msOrtWasm / msOurs, `${threads} thread(s)`],
      ],
    ) + (errors.length ? `\nErrors: ${errors.join('; ')}\n` : '');
  return { rows: [row], markdown };
}
