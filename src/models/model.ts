/**
 * The whole FLAP model (weights-tools/flap_ref/model.py): one safetensors file holds every part under its
 * prefix (`audio_encoder.`, `audio2flame.`, `coeff_encoder.`, `reference_net.`, `unet.`, `autoencoder.`,
 * `preview_autoencoder.`, `estimator.`). It loads through `loadModuleWeights` (./load.ts), as every module does.
 */
import { matmulShapeClass, tuneMatmul, type MatmulShape } from '../ops/math/matmul';
import { attentionShapeClass, tuneAttention, type AttentionTuneShape } from '../ops/nn/attention';
import { conv2dShapeClass, tuneConv2d, type Conv2dShape } from '../ops/nn/conv2d';
import { exportTuning, importTuning, isTuned, type TuningStore } from '../ops/tune';
import type { FlapDevice } from '../runtime/device';
import type { Progress } from '../weights/safetensors';
import type { WeightInput } from '../weights/load';
import { Audio2Flame } from './audio2flame';
import { AudioEncoder } from './audio_encoder';
import { MelEncoder } from './mel_encoder';
import { AutoencoderKL } from './autoencoder_kl';
import { TinyAutoencoder } from './autoencoder_tiny';
import { CoeffEncoder } from './coeff_encoder';
import type { AutoencoderConfig, FlapConfig } from './config';
import { Estimator } from './estimator';
import { loadModuleWeights } from './load';
import { Module } from './module';
import { ReferenceNet } from './reference_net';
import { UNet } from './unet';

export type Autoencoder = AutoencoderKL | TinyAutoencoder;

export function buildAutoencoder(config: AutoencoderConfig): Autoencoder {
  return config.type === 'kl' ? new AutoencoderKL(config) : new TinyAutoencoder(config);
}

export interface LoadModelOptions {
  /** Keep F16/BF16 linear weights as f16 on the GPU (default true). */
  keepF16?: boolean;
  onProgress?: Progress;
  /**
   * Time the matmul, conv2d and attention variants on this model's denoising shapes once the weights are in,
   * and use the winners (cached per adapter for the page's lifetime). Default: on real GPUs; off on CPU-backed
   * adapters such as SwiftShader, whose defaults were measured and where tuning at full size takes minutes.
   */
  autotune?: boolean;
  /**
   * Where winners persist between loads (`browserTuningStore()`, or `fileTuningStore(path)` from
   * `flap-webgpu/node` in Node): read before tuning, so only shape classes it lacks are timed, and written after.
   */
  tuningStore?: TuningStore;
}

/** What autotuning times, per op. */
export interface TuningPlan {
  matmul: MatmulShape[];
  conv2d: Conv2dShape[];
  attention: AttentionTuneShape[];
}

/**
 * What autotuning times, on the guidance batch of a clip: the GEGLU input projection of the first attention
 * level (the largest linear layer of a step), each level's 3x3 convolution and each attention level's
 * self-attention over its own and the portrait's tokens. Winners are cached per shape class, so every layer of
 * a class follows its shape's winner.
 */
export function tuningShapes(config: FlapConfig, f16: boolean): TuningPlan {
  const { height, width, frames_per_clip, motion_frames } = config.video;
  const unet = config.unet;
  const images = 2 * (frames_per_clip + motion_frames);
  const [h, w] = [height / 8, width / 8];
  const plan: TuningPlan = { matmul: [], conv2d: [], attention: [] };
  unet.block_out_channels.forEach((c, l) => {
    const [hl, wl] = [h >> l, w >> l];
    plan.conv2d.push({ kh: 3, kw: 3, stride: 1, groups: 1, cinPerGroup: c, cout: c, outW: wl, pixels: images * hl * wl });
    if (!unet.down_block_types[l]?.startsWith('CrossAttn')) return;
    if (plan.matmul.length === 0) plan.matmul.push({ M: images * hl * wl, K: c, N: 8 * c, batch: 1, transA: false, transB: true, bF16: f16 });
    plan.attention.push({ batch: images, heads: unet.num_attention_heads, headDim: c / unet.num_attention_heads, lq: hl * wl, lk: 2 * hl * wl });
  });
  return plan;
}

/**
 * Tunes what `plan` lists and the store (if any) lacks for this adapter, then saves the store. Returns how many
 * shapes were timed.
 */
export async function tuneModel(device: FlapDevice, plan: TuningPlan, store?: TuningStore): Promise<number> {
  if (store) importTuning(await store.load());
  const info = device.info;
  const matmul = plan.matmul.filter((s) => !isTuned(info, 'matmul', [matmulShapeClass(s)]));
  const conv = plan.conv2d.filter((s) => !isTuned(info, 'conv2d', [conv2dShapeClass(s)]));
  const attention = plan.attention.filter((s) => !isTuned(info, 'attention', [attentionShapeClass({ headDim: s.headDim, rows: s.batch * s.heads * s.lq, lk: s.lk })]));
  await tuneMatmul(device, matmul);
  await tuneConv2d(device, conv);
  await tuneAttention(device, attention);
  const timed = matmul.length + conv.length + attention.length;
  if (store && timed > 0) await store.save(exportTuning());
  return timed;
}

export class FlapModel extends Module {
  readonly audio_encoder: AudioEncoder | MelEncoder;
  readonly audio2flame: Audio2Flame;
  readonly coeff_encoder: CoeffEncoder;
  readonly reference_net: ReferenceNet;
  readonly unet: UNet;
  readonly autoencoder: Autoencoder;
  readonly preview_autoencoder?: Autoencoder;
  readonly estimator?: Estimator;

  constructor(readonly config: FlapConfig) {
    super();
    this.audio_encoder = config.audio_encoder.type === 'mel' ? new MelEncoder(config.audio_encoder) : new AudioEncoder(config.audio_encoder);
    this.audio2flame = new Audio2Flame(config.audio2flame);
    this.coeff_encoder = new CoeffEncoder(config.coeff_encoder);
    this.reference_net = new ReferenceNet(config.unet);
    this.unet = new UNet(config.unet, true);
    this.autoencoder = buildAutoencoder(config.autoencoder);
    if (config.preview_autoencoder) this.preview_autoencoder = buildAutoencoder(config.preview_autoencoder);
    if (config.estimator) this.estimator = new Estimator(config.estimator.width);
  }

  /** Builds the model of `config` and loads `weights` into it; on any error nothing stays allocated. */
  static async load(device: FlapDevice, config: FlapConfig, weights: WeightInput, options: LoadModelOptions = {}): Promise<FlapModel> {
    const model = new FlapModel(config);
    await model.loadWeights(device, weights, options);
    return model;
  }

  async loadWeights(device: FlapDevice, weights: WeightInput, options: LoadModelOptions = {}): Promise<void> {
    await loadModuleWeights(device, this, weights, { keepF16: options.keepF16, onProgress: options.onProgress });
    try {
      if (options.autotune ?? !device.info.isCpuBacked) await tuneModel(device, tuningShapes(this.config, options.keepF16 ?? true), options.tuningStore);
    } catch (e) {
      this.release();
      throw e;
    }
  }
}
