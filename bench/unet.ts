// bench/unet: one denoising step of the `mini` config (8 frames + 2 motion frames, guidance batch 2, 16x16
// latents, the geometry guide) on this runtime and on ONNX Runtime Web (WebGPU and WASM execution providers)
// running the reference's ONNX export with the same weights (bench/onnx/models/mini/weights.safetensors, f32 on
// both sides; without that file ours runs on random f32 weights made here, which costs the same arithmetic).
// Ours: a one-step clip of the generation loop (the guide encoder on the clip's guide images, which the loop runs
// once per clip; both guidance halves in one batch; the sampler update), waited for on the GPU. ORT: the exported
// step graph run twice (conditional with guide images, unconditional with zero tokens and zero guides), outputs
// read back.
// The guide images are random values in [0, 1] of the renderer's shape: drawing them is once per clip, not per step.
import mini from '../weights-tools/configs/mini.json';
import { parseConfig, type FlapConfig } from '../src/models/config';
import { FlapModel } from '../src/models/model';
import { denoiseClip, gaussianNoise, reference, releaseReference } from '../src/models/pipeline';
import { createDevice, type FlapDevice } from '../src/runtime/device';
import { neutralCoefficients } from '../src/flap';
import { markdownTable, randomData, timeMedian, type Progress, type Table } from './stats';
import type { Ort } from './peers';

/** One row of bench/results/unet.json. */
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

/** bench/onnx/models/mini/manifest.json (export_onnx.py model). */
export interface ModelManifest {
  weights?: string;
  models: { file: string; part: string; frames: number; inputs: { name: string; shape: number[]; dtype: string }[] }[];
}

/** What the page found in bench/onnx/models/mini/. */
export interface UnetFiles {
  /** The folder's URL. */
  dir: URL;
  /** Its manifest.json, or why there is none. */
  manifest: ModelManifest | { missing: string };
  /** Whether weights.safetensors is there. */
  weights: boolean;
}

export type UnetPeer = 'ort-webgpu' | 'ort-wasm';

export interface UnetOptions {
  reps: number;
  /** The ONNX Runtime execution providers to time beside ours (default both). */
  peers?: UnetPeer[];
  /** Checked between phases; an abort ends the suite with an AbortError. */
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Times at most `reps` runs but stops early once `budgetMs` is spent (at least one measured run). */
async function timeWithin(run: () => Promise<void>, reps: number, budgetMs: number): Promise<number> {
  const t0 = performance.now();
  await run(); // warm-up: pipelines, weights upload
  const warm = performance.now() - t0;
  const n = Math.max(1, Math.min(reps, Math.floor(budgetMs / Math.max(warm, 1))));
  return timeMedian(run, n, 0);
}

/** `n` values in [0, 1), as the head renderer's guide images hold. */
function unitData(n: number, seed: number): Float32Array {
  return randomData(n, seed).map((v) => (v + 1) / 2);
}

/**
 * A safetensors file of random f32 weights for every parameter of `config`'s model (PyTorch's default scale:
 * uniform within ±1/√fan-in; norm scales 1, biases 0), for when the reference's weights file is not there.
 */
export function randomWeights(config: FlapConfig): Uint8Array {
  const params = new FlapModel(config).namedParameters();
  const header: Record<string, unknown> = { __metadata__: { weights: 'random, made by the benchmark page' } };
  let bytes = 0;
  for (const [name, p] of params) {
    const size = 4 * p.shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape: p.shape, data_offsets: [bytes, bytes + size] };
    bytes += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // the data starts 8-byte aligned
  const out = new Uint8Array(8 + json.length + bytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  params.forEach(([name, p], i) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const view = new Float32Array(out.buffer, at, n);
    if (name.endsWith('bias')) view.fill(0);
    else if (p.shape.length === 1) view.fill(1);
    else {
      const scale = 1 / Math.sqrt(n / p.shape[0]!);
      view.set(randomData(n, i + 1).map((v) => v * scale));
    }
    at += 4 * n;
  });
  return out;
}

async function ortStep(ort: Ort, url: URL, inputs: ModelManifest['models'][0]['inputs'], ep: string): Promise<{ run: () => Promise<void>; release: () => Promise<void> }> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: [ep] });
  const feeds = (uncond: boolean) => {
    const out: Record<string, unknown> = {};
    inputs.forEach((input, i) => {
      const n = input.shape.reduce((a, b) => a * b, 1);
      if (input.dtype === 'int64') out[input.name] = new ort.Tensor('int64', new BigInt64Array(n).fill(500n), input.shape);
      else if (input.name === 'guide') out[input.name] = new ort.Tensor('float32', uncond ? new Float32Array(n) : unitData(n, i + 1), input.shape);
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

/** Our whole loop step, timed; the model is loaded and released here. */
async function ourStep(device: FlapDevice, config: FlapConfig, weights: Uint8Array, reps: number, tick: (label: string) => void, signal?: AbortSignal) {
  const { height, width, frames_per_clip: f, motion_frames: m } = config.video;
  const [h, w] = [height / 8, width / 8];
  const model = await FlapModel.load(device, config, weights, { keepF16: false });
  const weightBytesOurs = device.stats.bytesInUse;
  const size = config.unet.guide?.size ?? 0;
  // Guide images [frames, S, S, 3] in [0, 1], as HeadRenderer.renderGuides returns them.
  const guides = (coefficients: Float32Array) => {
    const n = coefficients.length / 120;
    return device.tensor([n, size, size, 3], 'f32', unitData(n * size * size * 3, n));
  };
  const ref = reference(model, device.tensor([1, height, width, 3], 'f32', randomData(height * width * 3)), neutralCoefficients(), config.unet.guide ? guides : undefined);
  const coeffs = new Float32Array((f + m) * 120);
  for (let i = 0; i < f + m; i++) coeffs.set(neutralCoefficients(), i * 120);
  const guide = config.unet.guide ? guides(coeffs) : undefined;
  try {
    const clip = async (steps: number) => {
      const out = device.scope(() =>
        denoiseClip(model, device.tensor([f, h, w, 4], 'f32', gaussianNoise(f * h * w * 4, 1)), device.tensor([f, 120], 'f32', coeffs.subarray(m * 120)),
          device.tensor([m, h, w, 4], 'f32', gaussianNoise(m * h * w * 4, 2)), device.tensor([m, 120], 'f32', coeffs.subarray(0, m * 120)), ref,
          { sampler: 'dpmpp_2m', steps, guidanceScale: 2 }, undefined, guide),
      ).keep();
      await device.sync();
      out.release();
    };
    tick('ours: warm-up step');
    await clip(1);
    const counts = async (steps: number) => {
      signal?.throwIfAborted();
      tick(`ours: counting dispatches (${steps} step${steps > 1 ? 's' : ''})`);
      const [d, s] = [device.stats.dispatches, device.stats.submits];
      await clip(steps);
      return [device.stats.dispatches - d, device.stats.submits - s];
    };
    const [d1, s1] = await counts(1);
    const [d2, s2] = await counts(2);
    signal?.throwIfAborted();
    device.resetPeak();
    tick(`ours: ${reps} timed step${reps > 1 ? 's' : ''}`);
    const msOurs = await timeMedian(() => clip(1), reps, 0);
    return { msOurs, peakBytesOurs: device.stats.peakBytesInUse, weightBytesOurs, dispatchesPerStep: d2! - d1!, submitsPerStep: s2! - s1! };
  } finally {
    guide?.release();
    releaseReference(ref);
    model.release();
  }
}

/** The results table: the same columns and cells in the markdown and on the page. */
export function unetTable(row: UnetRow): Table {
  const { msOurs, msOrtWebgpu, msOrtWasm } = row;
  return {
    columns: ['runtime', 'ms per step', 'ratio to ours', 'notes'],
    rows: [
      ['flap-webgpu', msOurs, 1, `peak ${(row.peakBytesOurs / 1e6).toFixed(1)} MB (weights ${(row.weightBytesOurs / 1e6).toFixed(1)} MB), ${row.dispatchesPerStep} dispatches and ${row.submitsPerStep} submits per step`],
      ['ORT Web, WebGPU EP', msOrtWebgpu, msOrtWebgpu && msOrtWebgpu / msOurs, ''],
      ['ORT Web, WASM EP', msOrtWasm, msOrtWasm && msOrtWasm / msOurs, `${row.ortWasmThreads} thread(s)`],
    ],
  };
}

export async function benchUnet(options: UnetOptions, files: UnetFiles, ort: Ort | undefined, ortThreads: number): Promise<{ rows: UnetRow[]; markdown: string }> {
  const config = parseConfig(mini);
  const { frames_per_clip: f, motion_frames: m } = config.video;
  const latent: [number, number] = [config.video.height / 8, config.video.width / 8];
  const want = options.peers ?? ['ort-webgpu', 'ort-wasm'];
  const errors: string[] = [];
  const notes: string[] = [];

  // The exported step, when it is there and matches the loop.
  let step: ModelManifest['models'][0] | undefined;
  if ('missing' in files.manifest) {
    if (want.length) errors.push(`ort: ${files.manifest.missing}`);
  } else {
    step = files.manifest.models.find((s) => s.part === 'unet_step');
    const problem = !step ? 'the export has no unet_step'
      : step.frames !== f + m ? `the ONNX step has ${step.frames} frames, the loop runs ${f + m}`
      : config.unet.guide && !step.inputs.some((i) => i.name === 'guide') ? 'the ONNX step takes no guide input (an export older than the guide): make it again (node bench/prepare.mjs unet after deleting bench/onnx/models/mini)'
      : undefined;
    if (problem) {
      if (want.length) errors.push(`ort: ${problem}`);
      step = undefined;
    }
  }
  if (want.length && !ort) errors.push('ort: ONNX Runtime Web did not load');
  for (const [p, name] of [['ort-webgpu', 'WebGPU'], ['ort-wasm', 'WASM']] as const) {
    if (!want.includes(p)) notes.push(`ORT Web, ${name} EP: not run (not selected)`);
  }
  const peers = step && ort ? want : [];

  const total = 5 + options.reps + peers.length * (2 + options.reps);
  let done = 0;
  const tick = (label: string) => options.onProgress?.({ done: done++, total, label });

  const device = await createDevice();
  const adapter = device.info.description || `${device.info.vendor} ${device.info.architecture}`.trim();
  let ours: Awaited<ReturnType<typeof ourStep>>;
  try {
    tick('loading the weights');
    let weights: Uint8Array | undefined;
    if (files.weights) {
      const res = await fetch(new URL('weights.safetensors', files.dir));
      if (res.ok) weights = new Uint8Array(await res.arrayBuffer());
    }
    if (!weights) {
      notes.push('ours ran on random f32 weights made in the page (bench/onnx/models/mini/weights.safetensors is missing)');
      weights = randomWeights(config);
    }
    options.signal?.throwIfAborted();
    ours = await ourStep(device, config, weights, options.reps, tick, options.signal);
  } finally {
    device.destroy();
  }
  done = 5 + options.reps;
  console.log(`ours: ${ours.msOurs.toFixed(0)} ms per step`);

  const peer = async (ep: string) => {
    let s: Awaited<ReturnType<typeof ortStep>> | undefined;
    try {
      options.signal?.throwIfAborted();
      tick(`ORT ${ep}: session`);
      s = await ortStep(ort!, new URL(step!.file, files.dir), step!.inputs, ep);
      tick(`ORT ${ep}: warm-up and up to ${options.reps} timed steps`);
      const ms = await timeWithin(s.run, options.reps, 120_000);
      done += options.reps;
      console.log(`ort ${ep}: ${ms.toFixed(0)} ms per step`);
      return ms;
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      errors.push(`ort ${ep}: ${(e as Error).message}`);
      return null;
    } finally {
      await s?.release();
    }
  };
  const msOrtWebgpu = peers.includes('ort-webgpu') ? await peer('webgpu') : null;
  const msOrtWasm = peers.includes('ort-wasm') ? await peer('wasm') : null;
  options.onProgress?.({ done: total, total, label: 'done' });
  const row: UnetRow = {
    adapter,
    config: 'mini',
    frames: f,
    motionFrames: m,
    latent,
    msOurs: ours.msOurs,
    msOrtWebgpu,
    msOrtWasm,
    ortWasmThreads: ortThreads,
    peakBytesOurs: ours.peakBytesOurs,
    weightBytesOurs: ours.weightBytesOurs,
    dispatchesPerStep: ours.dispatchesPerStep,
    submitsPerStep: ours.submitsPerStep,
    ...(errors.length ? { errors } : {}),
  };
  const table = unetTable(row);
  const guide = config.unet.guide;
  const markdown =
    `# UNet step benchmark\n\nAdapter: ${adapter}. Config mini: ${f} frames + ${m} motion frames, guidance batch 2, ${latent[0]}x${latent[1]} latents, ` +
    (guide ? `the geometry guide (${guide.size}x${guide.size} guide images, random values in [0, 1], through the guide encoder; zero guides for the unconditional half), ` : '') +
    `f32 weights on both sides. Ours: median of ${options.reps} one-step clips (the guide encoded once, the whole loop step; GPU waited for). ` +
    `ORT: the reference's ONNX step run for both guidance halves, outputs read back; WASM with ${ortThreads} thread(s).\n\n` +
    markdownTable(table.columns, table.rows) +
    (notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : '') +
    (errors.length ? `\nErrors: ${errors.join('; ')}\n` : '');
  return { rows: [row], markdown };
}
