/**
 * The talking-head pipeline for users: load a FLAP model, then turn a portrait and speech into frames, with
 * head pose, blinks, gaze and expression under control. Inputs are validated before any GPU work; frames
 * stream out clip by clip; GPU memory stays flat whatever the audio length; cancelling frees everything.
 *
 * @example
 * const flap = await loadFlap({ config: '/models/flap-mini/config.json', weights: '/models/flap-mini/weights.safetensors', headAsset: '/models/flap-mini/head_asset.safetensors' });
 * const video = await flap.generate({ image: portraitBytes, audio: wavBytes, controls: { pose: { offset: { yaw: 10 } } } });
 * const file = await encodeVideo(video);            // WebM with the original audio
 */
import { COEFFS, CoefficientSequence, Slices } from './controls/layout';
import { applyControls, validateControls, type Controls } from './controls/controls';
import { IDENTITY_6D } from './controls/rotation';
import { InputError } from './errors';
import { prepareAudio, type AudioInput } from './io/audio';
import { prepareImage, type Box, type ImageInput } from './io/image';
import { parseConfig, type FlapConfig } from './models/config';
import { ESTIMATOR_SIZE, estimates, toCoefficients } from './models/estimator';
import { FlapModel } from './models/model';
import { audioToCoefficients, decodeFrames, generateLatents, numFrames, reference, releaseReference } from './models/pipeline';
import { prepareKernels, recordKernels, type KernelManifest } from './ops/kernels';
import type { SamplerKind } from './ops/sampler/schedule';
import { browserTuningStore, type TuningStore } from './ops/tune';
import { slice } from './ops/tensor/slab';
import { HeadRenderer } from './render/head';
import { createDevice, type FlapDevice } from './runtime/device';
import { fetchModelBytes, openModelFile, type CacheOptions, type FetchModelOptions } from './weights/fetch';
import type { WeightInput } from './weights/load';

export interface ModelSource {
  /** A config object (weights-tools/configs/*.json) or the URL of one. */
  config: FlapConfig | Record<string, unknown> | string;
  /** The weights: a URL (streamed, and cached in the browser) or bytes / a stream / a reader. */
  weights: WeightInput | string;
  /**
   * The model's head asset (`head_asset.safetensors`): a URL or bytes. Required by models whose config has a
   * geometry guide (`unet.guide`, flap-mini), which draw it posed by every frame's coefficients.
   */
  headAsset?: string | Uint8Array | ArrayBuffer;
  /**
   * The kernels the model uses (`kernels.json`, recorded by `Flap.recordKernels` after a generation): a URL or
   * the manifest. They are compiled while the weights load, so the first clip does not wait for shader
   * compiles. Optional; a folder's `kernels.json` is used when it exists.
   */
  kernels?: string | KernelManifest;
}

/** Progress of `Flap.load`: file bytes read (`download`, per file) and weight bytes on the GPU (`upload`), apart. */
export interface LoadProgress {
  phase: 'download' | 'upload';
  loaded: number;
  /** Bytes expected (0 when a server did not say). */
  total: number;
  /** `download`: the file's URL. */
  url?: string;
  /** `download`: the bytes come from the browser's cache, not the network. */
  fromCache?: boolean;
}

export interface LoadFlapOptions {
  device?: FlapDevice;
  /** Keep f16 weights as f16 on the GPU (default true). */
  keepF16?: boolean;
  /** Download and GPU-upload progress, reported separately (`phase`). */
  onProgress?: (p: LoadProgress) => void;
  /** Cancels the download and the upload; the load then rejects with the signal's reason (an `AbortError`). */
  signal?: AbortSignal;
  /**
   * Model files given by URL are kept in the browser's Cache Storage (default true), keyed by URL and checked
   * against the server's ETag or size, so a second load reads no file from the network. See `openModelFile`.
   */
  cache?: boolean | CacheOptions;
  /** Told when the cache cannot be used; the files are then simply downloaded (default `console.warn`). */
  onWarning?: (message: string) => void;
  /** Time kernel variants on the model's shapes after loading (default: on GPUs, off on CPU adapters). */
  autotune?: boolean;
  /** Where tuned winners are kept between loads (default `browserTuningStore()`: localStorage where there is one). */
  tuningStore?: TuningStore;
}

/** The files of a model folder at `url`: `config.json`, `weights.safetensors` and `head_asset.safetensors`. */
export function modelFolder(url: string): { config: string; weights: string; headAsset: string; kernels: string } {
  const dir = url.endsWith('/') ? url : `${url}/`;
  return { config: `${dir}config.json`, weights: `${dir}weights.safetensors`, headAsset: `${dir}head_asset.safetensors`, kernels: `${dir}kernels.json` };
}

/** A kernel manifest from a URL, or nothing when there is none (it is only an optimisation). */
async function kernelManifest(source: string | KernelManifest | undefined): Promise<KernelManifest | undefined> {
  if (typeof source !== 'string') return source;
  try {
    const res = await fetch(source);
    return res.ok ? ((await res.json()) as KernelManifest) : undefined;
  } catch {
    return undefined;
  }
}

export type Stage = 'inputs' | 'coefficients' | 'reference' | 'denoise' | 'decode' | 'done';

export interface Progress {
  stage: Stage;
  /** 0 … 1 over the whole generation. */
  fraction: number;
  clip?: number;
  clips?: number;
}

export interface Frame {
  index: number;
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

export interface GenerateRequest {
  image: ImageInput;
  audio: AudioInput;
  /** Crop of the portrait to use (default: a centred crop to the model's aspect). */
  faceBox?: Box;
  /**
   * The portrait's own coefficients. Default: read from the portrait by the model's estimator when it has one
   * (flap-mini), else a neutral, frontal face.
   */
  referenceCoefficients?: Float32Array;
  controls?: Controls;
  sampler?: SamplerKind;
  steps?: number;
  guidanceScale?: number;
  seed?: number;
  onProgress?: (p: Progress) => void;
  onFrame?: (f: Frame) => void;
  signal?: AbortSignal;
}

export interface GeneratedVideo {
  frames: Frame[];
  width: number;
  height: number;
  fps: number;
  /** The coefficients that reached the UNet, [frames, 120]. */
  coefficients: CoefficientSequence;
  /** The speech as used (mono, 16 kHz). */
  audio: { samples: Float32Array; sampleRate: number };
  /** Peak GPU bytes in use during the call, weights included. */
  peakBytes: number;
}

/** A neutral, frontal reference: zero rotation and expression, eyes ahead and open. */
export function neutralCoefficients(): Float32Array {
  const c = new Float32Array(COEFFS);
  c.set(IDENTITY_6D, Slices.eyes.start);
  c.set(IDENTITY_6D, Slices.eyes.start + 6);
  return c;
}

/**
 * A loaded model on one GPU device. Failures of the GPU come back as typed errors:
 * - `OutOfMemoryError` (the GPU had no memory for a tensor, which it names): the runtime frees its cached buffers
 *   and, where nothing has been handed to the caller yet, runs the load or the generation once more before
 *   giving up; everything the failed call allocated is freed and the Flap stays usable.
 * - `DeviceLostError` (a driver reset, the browser reclaiming the GPU, `device.gpu.destroy()`): the call ends,
 *   everything it allocated is freed, and `recover()` loads the model again on a new device, without a page
 *   reload.
 */
export class Flap {
  private constructor(
    readonly device: FlapDevice,
    readonly model: FlapModel,
    private readonly ownsDevice: boolean,
    /** What the model was loaded from and how, for `recover()`. */
    private readonly source: ModelSource,
    private readonly options: Omit<LoadFlapOptions, 'device'>,
    /** The model's head asset, drawn as the geometry guide (and usable as a 3-D preview), when it has one. */
    readonly head?: HeadRenderer,
  ) {}

  get config(): FlapConfig {
    return this.model.config;
  }

  /**
   * The kernel specialisations this Flap's device has compiled so far: after a generation, every kernel the
   * model uses on this kind of adapter. Save it as the model folder's `kernels.json` (or pass it as
   * `ModelSource.kernels`) and the next load compiles them while the weights stream.
   */
  recordKernels(): KernelManifest {
    return recordKernels(this.device);
  }

  /** The GPU device was lost: every GPU call rejects with `DeviceLostError` until `recover()`. */
  get isLost(): boolean {
    return this.device.isLost;
  }

  /**
   * Loads a model: `source` gives its config, weights and head asset, or is the URL of a folder holding them
   * (`modelFolder`; the head asset is fetched when the config draws a geometry guide). Files given by URL are
   * cached in the browser (`options.cache`). The weights are on the GPU when it resolves (allocation failures
   * surface here, not at the first `generate`). Rejects with `InputError` for a bad config or an unreachable
   * file, with `SafetensorsError`/`WeightsError` for bad weights, with an `AbortError` when `options.signal`
   * aborts, and with `OutOfMemoryError` when the GPU cannot hold the model even after its cached buffers were
   * freed and the load tried once more (not for weights given as a stream, which cannot be read twice);
   * nothing stays allocated on the GPU after a rejection.
   */
  static async load(source: ModelSource | string, options: LoadFlapOptions = {}): Promise<Flap> {
    const { signal, device: given, ...rest } = options;
    const fetchOptions = (field: string): FetchModelOptions => ({
      field,
      signal,
      cache: options.cache,
      onWarning: options.onWarning,
      onProgress: (p) => options.onProgress?.({ phase: 'download', ...p }),
    });
    const folder = typeof source === 'string' ? modelFolder(source) : undefined;
    const configInput = folder ? folder.config : (source as ModelSource).config;
    let configJson: unknown = configInput;
    if (typeof configInput === 'string') {
      const text = new TextDecoder().decode(await fetchModelBytes(configInput, fetchOptions('config')));
      try {
        configJson = JSON.parse(text);
      } catch (e) {
        throw new InputError('config', `${configInput} is not JSON (${(e as Error).message})`);
      }
    }
    const config = parseConfig(configJson);
    const guide = config.unet.guide;
    const headInput = folder ? (guide ? folder.headAsset : undefined) : (source as ModelSource).headAsset;
    if (guide && headInput === undefined) throw new InputError('headAsset', `${config.name} draws a geometry guide (config unet.guide): give its head_asset.safetensors`);
    const weightsInput = folder ? folder.weights : (source as ModelSource).weights;
    // What `recover()` loads again: the same files or bytes (a stream cannot be read twice).
    const resolved: ModelSource = { config, weights: weightsInput, ...(headInput !== undefined ? { headAsset: headInput } : {}) };
    signal?.throwIfAborted();
    const device = given ?? (await createDevice());
    // Shader compiles run beside the downloads and the upload; failures are left to the kernels' first use.
    const kernels = kernelManifest(folder ? folder.kernels : (source as ModelSource).kernels).then((m) => prepareKernels(device, m)).catch(() => 0);
    const attempt = async () => {
      let head: HeadRenderer | undefined;
      let model: FlapModel | undefined;
      try {
        if (headInput !== undefined) {
          const bytes = typeof headInput === 'string' ? await fetchModelBytes(headInput, fetchOptions('headAsset')) : headInput;
          head = await HeadRenderer.load(device, bytes);
          if (guide) await head.prepareGuides(guide);
        }
        let stored: Promise<boolean> | undefined;
        let weights: WeightInput;
        if (typeof weightsInput === 'string') {
          const file = await openModelFile(weightsInput, fetchOptions('weights'));
          weights = file.body;
          stored = file.stored;
        } else weights = weightsInput;
        model = await FlapModel.load(device, config, weights, {
          keepF16: options.keepF16,
          autotune: options.autotune,
          tuningStore: options.tuningStore ?? browserTuningStore(),
          // The upload stops at the next tensor once the signal aborts (the loader releases what it uploaded).
          onProgress: (loaded, total) => {
            signal?.throwIfAborted();
            options.onProgress?.({ phase: 'upload', loaded, total });
          },
        });
        await device.sync();
        signal?.throwIfAborted();
        await stored;
        await kernels;
        return new Flap(device, model, !given, resolved, rest, head);
      } catch (e) {
        model?.release();
        head?.destroy();
        throw e;
      }
    };
    try {
      return await device.retryOnOutOfMemory(attempt, () => !(weightsInput instanceof ReadableStream));
    } catch (e) {
      if (!given) device.destroy();
      throw e;
    }
  }

  /**
   * After the GPU device was lost (`isLost`, or a `DeviceLostError` from `generate` or `estimate`), loads this
   * model again on a new device — `options.device`, or one it opens and owns — and returns the new Flap; this
   * one is disposed. No page reload is needed. The weights, config and head asset are read again from the
   * source `load` was given: a URL or bytes. A stream has been read to its end by then: load from a fresh
   * source with `loadFlap` instead (this rejects with `InputError`).
   *
   * @example
   * try {
   *   video = await flap.generate(request);
   * } catch (e) {
   *   if (!(e instanceof DeviceLostError)) throw e;
   *   flap = await flap.recover();
   *   video = await flap.generate(request);
   * }
   */
  async recover(options: { device?: FlapDevice; onProgress?: LoadFlapOptions['onProgress'] } = {}): Promise<Flap> {
    if (this.source.weights instanceof ReadableStream) {
      throw new InputError('weights', 'came as a stream, which the first load read to its end: call loadFlap with a fresh source');
    }
    this.dispose();
    return Flap.load(this.source, { ...this.options, device: options.device, onProgress: options.onProgress ?? this.options.onProgress });
  }

  /**
   * Generates a video; see `GenerateRequest`. Rejects with `InputError` before GPU work for bad input, with
   * `DeviceLostError` if the device is lost on the way (see `recover`), and with `OutOfMemoryError` if the GPU
   * ran out of memory even after a second attempt (made only when no frame had been delivered: it starts
   * over, progress included).
   */
  async generate(req: GenerateRequest): Promise<GeneratedVideo> {
    let delivered = 0;
    const onFrame = (frame: Frame) => {
      delivered++;
      req.onFrame?.(frame);
    };
    return this.device.retryOnOutOfMemory(() => this.generateOnce({ ...req, onFrame }), () => delivered === 0);
  }

  private async generateOnce(req: GenerateRequest): Promise<GeneratedVideo> {
    const cfg = this.config;
    const { device, model } = this;
    const report = (p: Progress) => req.onProgress?.(p);
    report({ stage: 'inputs', fraction: 0 });
    const steps = req.steps ?? cfg.scheduler.default_steps;
    const guidanceScale = req.guidanceScale ?? cfg.scheduler.default_guidance_scale;
    if (!Number.isInteger(steps) || steps < 1 || steps > 200) throw new InputError('steps', `must be an integer in 1..200 (got ${steps})`);
    if (!Number.isFinite(guidanceScale) || guidanceScale < 0 || guidanceScale > 30) throw new InputError('guidanceScale', `must be within [0, 30] (got ${guidanceScale})`);
    if (req.seed !== undefined && !(Number.isSafeInteger(req.seed) && req.seed >= 0)) throw new InputError('seed', `must be a whole number >= 0 (got ${req.seed})`);
    const sampler = req.sampler ?? cfg.scheduler.default_sampler;
    if (sampler !== 'ddim' && sampler !== 'dpmpp_2m') throw new InputError('sampler', `unknown sampler ${String(sampler)}`);
    if (req.referenceCoefficients && (req.referenceCoefficients.length !== COEFFS || !req.referenceCoefficients.every(Number.isFinite))) {
      throw new InputError('referenceCoefficients', `must be ${COEFFS} finite numbers`);
    }
    const [audio, image] = await Promise.all([prepareAudio(req.audio, cfg.video.sample_rate), prepareImage(req.image, cfg.video.width, cfg.video.height, req.faceBox)]);
    const frames = numFrames(cfg, audio.length);
    if (req.controls) validateControls(req.controls, frames);
    if (req.controls?.external && req.controls.external.sequence.frames !== frames) {
      throw new InputError('controls.external', `has ${req.controls.external.sequence.frames} frames; the audio makes ${frames}`);
    }
    req.signal?.throwIfAborted();

    device.resetPeak();
    report({ stage: 'coefficients', fraction: 0.02 });
    const refCoeffs = req.referenceCoefficients
      ?? (model.estimator ? (await this.estimate(req.image, { faceBox: req.faceBox })).data : neutralCoefficients());
    const coeffTensor = audioToCoefficients(model, device, audio, refCoeffs);
    let base: CoefficientSequence;
    try {
      base = new CoefficientSequence(await coeffTensor.read(), cfg.video.fps);
    } finally {
      coeffTensor.release();
    }
    const coefficients = applyControls(base, req.controls ?? {});

    report({ stage: 'reference', fraction: 0.05 });
    const imageTensor = device.tensor([1, cfg.video.height, cfg.video.width, 3], 'f32', image);
    const guide = cfg.unet.guide;
    const guides = guide && this.head ? (c: Float32Array) => this.head!.renderGuides(c, guide) : undefined;
    let ref: ReturnType<typeof reference>;
    try {
      ref = reference(model, imageTensor, refCoeffs, guides);
    } finally {
      imageTensor.release();
    }
    const out: Frame[] = [];
    const f = cfg.video.frames_per_clip;
    try {
      await generateLatents(model, device, coefficients.data, ref, refCoeffs, {
        sampler,
        steps,
        guidanceScale,
        seed: req.seed ?? 0,
        signal: req.signal,
        retain: false,
        guides,
        onStep: (clip, step) => {
          const clips = Math.ceil(frames / f);
          report({ stage: 'denoise', fraction: 0.05 + (0.9 * (clip + (step + 1) / (steps + 1))) / clips, clip, clips });
        },
        onClip: async (clip, clips, latents) => {
          const keep = Math.min(f, frames - clip * f);
          const used = keep < f ? device.scope(() => slice(latents, 0, 0, keep)).keep() : latents;
          const rgba = await decodeFrames(model, used);
          if (used !== latents) used.release();
          for (const [i, data] of rgba.entries()) {
            const frame = { index: clip * f + i, width: cfg.video.width, height: cfg.video.height, rgba: data };
            out.push(frame);
            req.onFrame?.(frame);
          }
          report({ stage: 'decode', fraction: 0.05 + (0.9 * (clip + 1)) / clips, clip, clips });
          req.signal?.throwIfAborted();
        },
      });
    } finally {
      releaseReference(ref);
    }
    const peakBytes = device.stats.peakBytesInUse;
    report({ stage: 'done', fraction: 1 });
    return { frames: out, width: cfg.video.width, height: cfg.video.height, fps: cfg.video.fps, coefficients, audio: { samples: audio, sampleRate: cfg.video.sample_rate }, peakBytes };
  }

  /**
   * FLAP's 3D parameter estimation: the coefficients of a portrait or of a video's frames (one image per frame),
   * read by the model's estimator on the GPU, as a sequence at the model's frame rate. Feed them to `generate` as
   * `referenceCoefficients` (one image) or as `controls.external` to make one video drive another portrait.
   * Rejects with `InputError` when the model has no estimator or an image is bad.
   */
  async estimate(images: ImageInput | ImageInput[], options: { faceBox?: Box; batch?: number } = {}): Promise<CoefficientSequence> {
    const estimator = this.model.estimator;
    if (!estimator) throw new InputError('estimate', `${this.config.name} has no estimator (config estimator)`);
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new InputError('images', 'no image to estimate from');
    const batch = options.batch ?? 16;
    const out = new Float32Array(list.length * COEFFS);
    const size = ESTIMATOR_SIZE;
    for (let start = 0; start < list.length; start += batch) {
      const part = list.slice(start, start + batch);
      const pixels = await Promise.all(part.map((im) => prepareImage(im, size, size, options.faceBox)));
      const data = new Float32Array(part.length * size * size * 3);
      pixels.forEach((p, i) => data.set(p, i * size * size * 3));
      const raw = this.device.scope(() => estimator.forward(this.device.tensor([part.length, size, size, 3], 'f32', data))).keep();
      let values: Float32Array;
      try {
        values = await raw.read();
      } finally {
        raw.release();
      }
      out.set(toCoefficients(estimates(values)), start * COEFFS);
    }
    return new CoefficientSequence(out, this.config.video.fps);
  }

  /** Frees the model's weights and head asset (and the device, if `load` created it). */
  dispose(): void {
    this.model.release();
    this.head?.destroy();
    if (this.ownsDevice) this.device.destroy();
  }
}

/** `Flap.load`: a model from its files or from the URL of its folder. */
export const loadFlap = (source: ModelSource | string, options?: LoadFlapOptions) => Flap.load(source, options);

/** The generated frames and the speech as a WebM (default) or MP4 file (in a browser: WebCodecs). */
export async function encodeVideo(video: GeneratedVideo, format: 'webm' | 'mp4' = 'webm'): Promise<{ bytes: Uint8Array; mimeType: string }> {
  const { VideoWriter } = await import('./export/video');
  const writer = await VideoWriter.create({ width: video.width, height: video.height, fps: video.fps, format, audio: video.audio });
  for (const frame of video.frames) await writer.add(frame.rgba);
  return { bytes: await writer.finish(), mimeType: writer.mimeType };
}
