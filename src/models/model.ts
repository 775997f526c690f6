/**
 * The whole FLAP model (weights-tools/flap_ref/model.py): one safetensors file holds every part under its
 * prefix (`audio_encoder.`, `audio2flame.`, `coeff_encoder.`, `reference_net.`, `unet.`, `autoencoder.`,
 * `preview_autoencoder.`, `estimator.`). It loads through `loadModuleWeights` (./load.ts), as every module does.
 */
import { tuneMatmul, type MatmulShape } from '../ops/math/matmul';
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
   * Time the matmul variants on this model's transformer shapes once the weights are in, and use the winners
   * (cached per adapter for the page's lifetime). Default: on real GPUs; off on CPU-backed adapters such as
   * SwiftShader, whose defaults were measured and where tuning at full size takes minutes.
   */
  autotune?: boolean;
}

/**
 * What autotuning times: the GEGLU input projection of the first attention level, the largest linear layer of
 * a denoising step. Winners are cached per shape class (see matmulShapeClass), so every transformer linear
 * layer of that class follows it.
 */
export function tuningShapes(config: FlapConfig, f16: boolean): MatmulShape[] {
  const { height, width, frames_per_clip, motion_frames } = config.video;
  const level = config.unet.down_block_types.findIndex((t) => t.startsWith('CrossAttn'));
  if (level < 0) return [];
  const c = config.unet.block_out_channels[level]!;
  const images = 2 * (frames_per_clip + motion_frames); // the guidance batch
  const M = (images * (height / 8) * (width / 8)) / 4 ** level;
  return [{ M, K: c, N: 8 * c, batch: 1, transA: false, transB: true, bF16: f16 }];
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
      if (options.autotune ?? !device.info.isCpuBacked) await tuneMatmul(device, tuningShapes(this.config, options.keepF16 ?? true));
    } catch (e) {
      this.release();
      throw e;
    }
  }
}
