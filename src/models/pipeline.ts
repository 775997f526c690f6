/**
 * Generation with FLAP (weights-tools/flap_ref/pipeline.py, the same steps and choices): audio → coefficients
 * → the portrait's latent and ReferenceNet features (once per video) → clips of guided denoising with motion
 * frames → decoded frames. Guidance runs [conditional, unconditional] as one batch (one after the other when
 * together they would not fit a storage binding); the unconditional half
 * gets zero tokens (and zero guides). Within a clip nothing is read back to the CPU. A model whose config has
 * `unet.guide` needs a `GuideSource`: every frame's coefficients drawn as a geometry guide on the GPU.
 */
import { InputError, LimitExceededError } from '../errors';
import { Sampler } from '../ops/sampler/cfg_step';
import type { SamplerKind, ScheduleConfig } from '../ops/sampler/schedule';
import { concat, slice } from '../ops/tensor/slab';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import type { KeyValue } from './attention';
import type { FlapConfig } from './config';
import type { FlapModel } from './model';

/** Coefficient rows ([frames·120], FLAP order) → guide images [frames, S, S, 3] on the GPU (a new tensor). */
export type GuideSource = (coefficients: Float32Array) => Tensor;

function guideFor(model: FlapModel, guides: GuideSource | undefined, coefficients: Float32Array): Tensor | undefined {
  if (!model.config.unet.guide) return undefined;
  if (!guides) throw new InputError('guides', 'this model has a geometry guide (config unet.guide): pass its GuideSource (a HeadRenderer)');
  return guides(coefficients);
}

export interface SamplingOptions {
  sampler: SamplerKind;
  steps: number;
  guidanceScale: number;
}

/** `floor(samples · fps / sample_rate)`. */
export function numFrames(config: FlapConfig, samples: number): number {
  return Math.floor((samples * config.video.fps) / config.video.sample_rate);
}

export function scheduleConfig(config: FlapConfig): ScheduleConfig {
  const s = config.scheduler;
  return { trainSteps: s.num_train_timesteps, betaStart: s.beta_start, betaEnd: s.beta_end, stepsOffset: s.steps_offset, spacing: s.timestep_spacing, setAlphaToOne: false };
}

/** 16 kHz speech → coefficients [frames, 120] (kept: the caller releases). */
export function audioToCoefficients(model: FlapModel, device: FlapDevice, audio: Float32Array, refCoeffs?: Float32Array): Tensor {
  const frames = numFrames(model.config, audio.length);
  if (frames < 1) throw new InputError('audio', `${audio.length} samples are shorter than one video frame`);
  return device.scope(() => model.audio2flame.forward(device, model.audio_encoder.forward(device, audio), frames, refCoeffs)).keep();
}

/** What one video keeps on the GPU for all its clips: the portrait's latent and attn1 keys/values. */
export interface ReferenceState {
  latent: Tensor;
  keyValues: Map<string, KeyValue>;
}

/** image [1, H, W, 3] in [-1, 1] and its own coefficients → the per-video reference state (kept). */
export function reference(model: FlapModel, image: Tensor, refCoeffs: Float32Array, guides?: GuideSource): ReferenceState {
  const device = image.device;
  return device.scope(() => {
    const latent = model.autoencoder.encode(image);
    const { pose, expr } = model.coeff_encoder.forward(device.tensor([1, refCoeffs.length], 'f32', refCoeffs));
    const guide = guideFor(model, guides, refCoeffs);
    const features = model.reference_net.features(latent, pose, model.config.unet.expression_attention ? expr : undefined, undefined, guide);
    const keyValues = model.unet.referenceKeyValues(features);
    for (const f of features.values()) f.release();
    return { latent: latent.keep(), keyValues };
  });
}

export function releaseReference(state: ReferenceState): void {
  state.latent.release();
  for (const kv of state.keyValues.values()) {
    kv.k.release();
    kv.v.release();
  }
}

/**
 * One clip: noise [F, h, w, 4] and coefficients [F, 120], with M clean motion frames in front ([M, h, w, 4],
 * [M, 120]) → latents [F, h, w, 4]. `guide` holds the M + F frames' guide images when the config has a guide.
 * `onStep` is told after each step is recorded (not completed).
 */
export function denoiseClip(
  model: FlapModel,
  noise: Tensor,
  coeffs: Tensor,
  motionLatents: Tensor,
  motionCoeffs: Tensor,
  ref: ReferenceState,
  options: SamplingOptions,
  onStep?: (step: number) => void,
  guide?: Tensor,
): Tensor {
  const device = noise.device;
  const m = motionLatents.shape[0]!;
  const frames = m + noise.shape[0]!;
  const split = guidanceHalves(model, frames, noise);
  const sampler = new Sampler(options.sampler, options.steps, options.guidanceScale, scheduleConfig(model.config));
  try {
    return device.scope(() => {
      const { pose, expr } = model.coeff_encoder.forward(concat([motionCoeffs, coeffs], 0));
      const zeros = (t: Tensor) => device.tensor(t.shape, 'f32', new Float32Array(t.size));
      const withExpr = model.config.unet.expression_attention;
      // Conditional, then unconditional (zero tokens and guides; the portrait's features stay in both).
      const halves = [
        { pose, expr: withExpr ? expr : undefined, guide },
        { pose: zeros(pose), expr: withExpr ? zeros(expr) : undefined, guide: guide && zeros(guide) },
      ];
      const both = (key: 'pose' | 'expr' | 'guide') => (halves[0][key] ? concat([halves[0][key]!, halves[1][key]!], 0) : undefined);
      const batch = split ? undefined : { pose: both('pose')!, expr: both('expr'), guide: both('guide') };
      // The guides are the same at every step: encode them once for the clip.
      const encode = <T extends { guide?: Tensor }>(t: T) => (t.guide ? { ...t, guide: undefined, guideFeatures: model.unet.encodeGuide(t.guide) } : t);
      const [cond, uncond, batched] = batch ? [halves[0]!, halves[1]!, encode(batch)] : [encode(halves[0]!), encode(halves[1]!), undefined];
      let x = noise;
      sampler.timesteps.forEach((t, i) => {
        const next = device.scope(() => {
          const video = concat([motionLatents, x], 0);
          const run = (sample: Tensor, tokens: { pose: Tensor; expr?: Tensor; guideFeatures?: Tensor }) =>
            model.unet.forward(sample, new Array<number>(sample.shape[0]!).fill(t), { ...tokens, frames, reference: ref.keyValues });
          if (!batched) return sampler.step(i, x, slice(run(video, cond), 0, m, frames), 'two', slice(run(video, uncond), 0, m, frames));
          const eps = run(concat([video, video], 0), batched);
          return sampler.step(i, x, slice(eps, 0, m, frames), 'two', slice(eps, 0, frames + m, 2 * frames));
        });
        if (x !== noise) x.release();
        x = next;
        onStep?.(i);
      });
      return x;
    });
  } finally {
    sampler.dispose();
  }
}

/**
 * Whether the guided UNet pass runs its conditional and unconditional halves one after the other: only when
 * the two together would need an activation over one storage binding. A clip whose half alone would not fit
 * is refused here, before any work, with the sizes and the limit.
 */
function guidanceHalves(model: FlapModel, frames: number, noise: Tensor): boolean {
  const limit = noise.device.info.limits.maxStorageBufferBindingSize;
  const [h, w] = noise.shape.slice(1, 3) as [number, number];
  if (model.unet.widestActivationBytes(2 * frames, h, w) <= limit) return false;
  const bytes = model.unet.widestActivationBytes(frames, h, w);
  if (bytes > limit) {
    throw new LimitExceededError(
      `a clip of ${frames} frames at ${h}x${w} latents needs a UNet activation of ${bytes} bytes, over this device's maxStorageBufferBindingSize (${limit}); fewer frames per clip or smaller frames fit`,
    );
  }
  return true;
}

/** Standard normal samples from a seeded generator (xorshift128+ and Box–Muller), for the initial noise. */
export function gaussianNoise(count: number, seed: number): Float32Array {
  let s0 = (seed ^ 0x9e3779b9) >>> 0 || 1;
  let s1 = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 2;
  const uniform = () => {
    let a = s0;
    const b = s1;
    s0 = b;
    a ^= a << 23;
    a ^= a >>> 17;
    a ^= b ^ (b >>> 26);
    s1 = a >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(uniform(), 1e-12);
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export interface GenerateOptions extends SamplingOptions {
  /** Noise of clip `c`, [F·h·w·4] channels last; by default `gaussianNoise(…, seed + c)`. */
  noise?: (clip: number) => Float32Array;
  seed?: number;
  onClip?: (clip: number, clips: number, latents: Tensor) => void | Promise<void>;
  onStep?: (clip: number, step: number) => void;
  signal?: AbortSignal;
  /** Keep every clip's latents and return them (default); with false each is released after `onClip`. */
  retain?: boolean;
  /** Draws the geometry guides of a model whose config has `unet.guide`. */
  guides?: GuideSource;
}

/**
 * Latents of a whole video: coefficients [frames, 120] (on the CPU), the reference state and the portrait's
 * coefficients → one kept latent tensor per clip, [F, h, w, 4] (the last clip padded by repeating the last
 * coefficient row; callers drop the padding frames). Each clip's latents are handed to `onClip` as they finish.
 */
export async function generateLatents(model: FlapModel, device: FlapDevice, coefficients: Float32Array, ref: ReferenceState, refCoeffs: Float32Array, options: GenerateOptions): Promise<Tensor[]> {
  const { frames_per_clip: f, motion_frames: m } = model.config.video;
  const width = model.config.audio2flame.num_coeffs;
  const total = coefficients.length / width;
  if (!Number.isInteger(total) || total < 1) throw new InputError('coefficients', `expected a whole number of ${width}-wide rows (got ${coefficients.length} values)`);
  const clips = Math.ceil(total / f);
  const [, h, w, c] = ref.latent.shape as [number, number, number, number];
  const row = (i: number) => coefficients.subarray(Math.min(i, total - 1) * width, (Math.min(i, total - 1) + 1) * width);
  let motionLatents = device.scope(() => concat(new Array<Tensor>(m).fill(ref.latent), 0)).keep();
  let motionCoeffs = new Float32Array(m * width);
  for (let j = 0; j < m; j++) motionCoeffs.set(refCoeffs, j * width);
  const out: Tensor[] = [];
  try {
    for (let clip = 0; clip < clips; clip++) {
      options.signal?.throwIfAborted();
      const clipCoeffs = new Float32Array(f * width);
      for (let j = 0; j < f; j++) clipCoeffs.set(row(clip * f + j), j * width);
      const noise = options.noise?.(clip) ?? gaussianNoise(f * h * w * c, (options.seed ?? 0) + clip);
      const latents = device.scope(() => {
        const clipGuide = guideFor(model, options.guides, Float32Array.from([...motionCoeffs, ...clipCoeffs]));
        return denoiseClip(
          model,
          device.tensor([f, h, w, c], 'f32', noise),
          device.tensor([f, width], 'f32', clipCoeffs),
          motionLatents,
          device.tensor([m, width], 'f32', motionCoeffs),
          ref,
          options,
          (s) => options.onStep?.(clip, s),
          clipGuide,
        );
      }).keep();
      motionLatents.release();
      motionLatents = device.scope(() => slice(latents, 0, f - m, f)).keep();
      motionCoeffs = clipCoeffs.slice((f - m) * width);
      if (options.retain === false) {
        try {
          await options.onClip?.(clip, clips, latents);
        } finally {
          latents.release();
        }
      } else {
        out.push(latents);
        await options.onClip?.(clip, clips, latents);
      }
    }
  } catch (e) {
    for (const t of out) t.release();
    throw e;
  } finally {
    motionLatents.release();
  }
  return out;
}

/**
 * Latents [N, h, w, 4] → RGBA bytes of N frames (clamped to [-1, 1], mapped to 0..255). Frames are decoded
 * together as far as the decoder's widest activation fits one storage binding, in groups beyond that; a single
 * frame too large to decode is refused before any work, with the sizes and the limit.
 */
export async function decodeFrames(model: FlapModel, latents: Tensor): Promise<Uint8ClampedArray[]> {
  const device = latents.device;
  const [n, lh, lw] = latents.shape as [number, number, number, number];
  const limit = device.info.limits.maxStorageBufferBindingSize;
  const perFrame = model.autoencoder.decodeActivationBytes(lh, lw);
  if (perFrame > limit) {
    throw new LimitExceededError(
      `decoding one ${8 * lh}x${8 * lw} frame needs an activation of ${perFrame} bytes, over this device's maxStorageBufferBindingSize (${limit}); smaller frames fit`,
    );
  }
  const group = Math.floor(limit / perFrame);
  const frames: Uint8ClampedArray[] = [];
  for (let first = 0; first < n; first += group) {
    const count = Math.min(group, n - first);
    const images = device.scope(() => model.autoencoder.decode(count === n ? latents : slice(latents, 0, first, first + count))).keep();
    const [h, w] = images.shape.slice(1, 3) as [number, number];
    let data: Float32Array;
    try {
      data = await images.read();
    } finally {
      images.release(); // also when the read fails (a lost device)
    }
    for (let i = 0; i < count; i++) {
      const rgba = new Uint8ClampedArray(h * w * 4);
      for (let p = 0; p < h * w; p++) {
        for (let ch = 0; ch < 3; ch++) rgba[p * 4 + ch] = Math.round(((Math.min(1, Math.max(-1, data[(i * h * w + p) * 3 + ch]!)) + 1) / 2) * 255);
        rgba[p * 4 + 3] = 255;
      }
      frames.push(rgba);
    }
  }
  return frames;
}
