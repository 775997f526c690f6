/**
 * Audio encoder (weights-tools/flap_ref/audio_encoder.py): wav2vec2 with Hugging Face's names; conv feature
 * extractor (GroupNorm in layer 0, GELU), feature projection, weight-normed grouped positional conv,
 * post-norm transformer layers. The per-utterance input normalisation runs on the CPU (the samples are there).
 */
import { ShapeError } from '../errors';
import { add } from '../ops/math/binary';
import { unary } from '../ops/math/unary';
import { attention } from '../ops/nn/attention';
import { conv1d, convWeight, type ConvWeight } from '../ops/nn/conv2d';
import { permuteRaw } from '../weights/permute';
import { slice } from '../ops/tensor/slab';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import type { AudioEncoderConfig } from './config';
import { Conv1d, GroupNorm, LayerNorm, Linear } from './layers';
import { Module, Parameter } from './module';

/** Feature frames the conv stack makes of `samples` samples. */
export function audioFrames(config: AudioEncoderConfig, samples: number): number {
  let n = samples;
  config.conv_kernel.forEach((k, i) => (n = Math.floor((n - k) / config.conv_stride[i]!) + 1));
  return n;
}

/** (x − mean) / sqrt(var + 1e-7), biased variance, in float64. */
export function normalizeWaveform(x: Float32Array): Float32Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let v2 = 0;
  for (const v of x) v2 += (v - mean) ** 2;
  const inv = 1 / Math.sqrt(v2 / x.length + 1e-7);
  return Float32Array.from(x, (v) => (v - mean) * inv);
}

export class ConvLayer extends Module {
  readonly conv: Conv1d;
  readonly layer_norm?: GroupNorm;

  constructor(cin: number, cout: number, kernel: number, stride: number, bias: boolean, groupNorm: boolean) {
    super();
    this.conv = new Conv1d(cin, cout, kernel, { stride }, bias);
    if (groupNorm) this.layer_norm = new GroupNorm(cout, cout, 1e-5);
  }

  forward(x: Tensor): Tensor {
    if (!this.layer_norm) return this.conv.forward(x, { activation: 'gelu' });
    return x.device.scope(() => unary('gelu', this.layer_norm!.forward(this.conv.forward(x))));
  }
}

export class FeatureExtractor extends Module {
  readonly conv_layers: ConvLayer[];

  constructor(c: AudioEncoderConfig) {
    super();
    const dims = [1, ...c.conv_dim];
    this.conv_layers = c.conv_kernel.map((k, i) => new ConvLayer(dims[i]!, dims[i + 1]!, k, c.conv_stride[i]!, c.conv_bias, i === 0 && c.feat_extract_norm === 'group'));
  }

  /** wave [B, S, 1] → [B, T, C]. */
  forward(wave: Tensor): Tensor {
    return wave.device.scope(() => this.conv_layers.reduce((x, layer) => layer.forward(x), wave));
  }
}

export class FeatureProjection extends Module {
  readonly layer_norm: LayerNorm;
  readonly projection: Linear;

  constructor(c: AudioEncoderConfig) {
    super();
    this.layer_norm = new LayerNorm(c.conv_dim[c.conv_dim.length - 1]!, c.layer_norm_eps);
    this.projection = new Linear(c.conv_dim[c.conv_dim.length - 1]!, c.hidden_size);
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => this.projection.forward(this.layer_norm.forward(x)));
  }
}

/** Weight-normed conv: `weight = weight_g · weight_v / ‖weight_v‖` with the norm over all dims but 2. */
export class WeightNormConv1d extends Module {
  readonly weight_g: Parameter;
  readonly weight_v: Parameter;
  readonly bias: Parameter;
  private folded?: ConvWeight;

  constructor(readonly channels: number, readonly kernel: number, readonly groups: number) {
    super();
    this.weight_g = new Parameter([1, 1, kernel]);
    this.weight_v = new Parameter([channels, channels / groups, kernel]);
    this.bias = new Parameter([channels]);
  }

  /** Folds the weight norm once (on the CPU: reads g and v back) and prepares the convolution. */
  protected override async prepare(device: FlapDevice): Promise<void> {
    const [g, v] = [await this.weight_g.tensor.read(), await this.weight_v.tensor.read()];
    const k = this.kernel;
    const norms = new Float64Array(k);
    for (let i = 0; i < v.length; i++) norms[i % k]! += v[i]! ** 2;
    const w = Float32Array.from(v, (x, i) => (g[i % k]! * x) / Math.sqrt(norms[i % k]!));
    // [C, C/g, K] → conv2d's [C, 1, K, C/g], on the CPU.
    const [c, cg] = this.weight_v.shape as [number, number];
    const laid = permuteRaw({ name: 'pos_conv', dtype: 'F32', shape: [c, cg, k], bytes: new Uint8Array(w.buffer) }, [0, 2, 1]);
    const folded = device.tensor([c, 1, k, cg], 'f32', new Float32Array(laid.bytes.buffer, laid.bytes.byteOffset, c * cg * k));
    this.folded?.weight.release();
    this.folded = convWeight(folded);
    folded.release();
  }

  forward(x: Tensor): Tensor {
    if (!this.folded) throw new ShapeError('positional conv used before its weight norm was folded (load it with loadModuleWeights, which prepares every module)');
    return x.device.scope(() => {
      const y = conv1d(x, this.folded!, this.bias.tensor, { padding: Math.floor(this.kernel / 2), groups: this.groups, activation: 'gelu' });
      // SamePad: an even kernel gives one frame too many; the last one goes.
      return this.kernel % 2 === 0 ? slice(y, 1, 0, x.shape[1]!) : y;
    });
  }

  protected override dispose(): void {
    this.folded?.weight.release();
    this.folded = undefined;
    super.dispose();
  }
}

export class PositionalConvEmbedding extends Module {
  readonly conv: WeightNormConv1d;

  constructor(c: AudioEncoderConfig) {
    super();
    this.conv = new WeightNormConv1d(c.hidden_size, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups);
  }
}

/** wav2vec2's attention: q/k/v/out projections with biases. */
export class SelfAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;

  constructor(hidden: number, readonly heads: number) {
    super();
    this.q_proj = new Linear(hidden, hidden);
    this.k_proj = new Linear(hidden, hidden);
    this.v_proj = new Linear(hidden, hidden);
    this.out_proj = new Linear(hidden, hidden);
  }

  /** out_proj(attention(x)) + residual. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return x.device.scope(() => {
      const a = attention(this.q_proj.forward(x), this.k_proj.forward(x), this.v_proj.forward(x), { heads: this.heads });
      return this.out_proj.forward(a, { residual });
    });
  }
}

export class FeedForward extends Module {
  readonly intermediate_dense: Linear;
  readonly output_dense: Linear;

  constructor(hidden: number, intermediate: number) {
    super();
    this.intermediate_dense = new Linear(hidden, intermediate);
    this.output_dense = new Linear(intermediate, hidden);
  }

  forward(x: Tensor, residual?: Tensor): Tensor {
    return x.device.scope(() => this.output_dense.forward(this.intermediate_dense.forward(x, { activation: 'gelu' }), { residual }));
  }
}

export class EncoderLayer extends Module {
  readonly attention: SelfAttention;
  readonly layer_norm: LayerNorm;
  readonly feed_forward: FeedForward;
  readonly final_layer_norm: LayerNorm;

  constructor(c: AudioEncoderConfig) {
    super();
    this.attention = new SelfAttention(c.hidden_size, c.num_attention_heads);
    this.layer_norm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
    this.feed_forward = new FeedForward(c.hidden_size, c.intermediate_size);
    this.final_layer_norm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.layer_norm.forward(this.attention.forward(x, x));
      return this.final_layer_norm.forward(this.feed_forward.forward(h, h));
    });
  }
}

export class Encoder extends Module {
  readonly pos_conv_embed: PositionalConvEmbedding;
  readonly layer_norm: LayerNorm;
  readonly layers: EncoderLayer[];

  constructor(c: AudioEncoderConfig) {
    super();
    this.pos_conv_embed = new PositionalConvEmbedding(c);
    this.layer_norm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
    this.layers = Array.from({ length: c.num_hidden_layers }, () => new EncoderLayer(c));
  }

  forward(x: Tensor, record?: Map<string, Tensor>): Tensor {
    return x.device.scope(() => {
      let h = this.layer_norm.forward(add(x, this.pos_conv_embed.conv.forward(x)));
      record?.set('pos_embedded', h.reshape(h.shape).keep());
      this.layers.forEach((layer, i) => {
        h = layer.forward(h);
        record?.set(`layers.${i}`, h.reshape(h.shape).keep());
      });
      return h;
    });
  }
}

export class AudioEncoder extends Module {
  readonly feature_extractor: FeatureExtractor;
  readonly feature_projection: FeatureProjection;
  readonly masked_spec_embed: Parameter;
  readonly encoder: Encoder;

  constructor(readonly config: AudioEncoderConfig) {
    super();
    this.feature_extractor = new FeatureExtractor(config);
    this.feature_projection = new FeatureProjection(config);
    this.masked_spec_embed = new Parameter([config.hidden_size]);
    this.encoder = new Encoder(config);
  }

  /**
   * waveform: 16 kHz samples of one utterance (normalised here when the config says so) → [1, T, hidden].
   * `record` receives `extract_features`, `projected`, `pos_embedded`, `layers.N` (kept).
   */
  forward(device: FlapDevice, waveform: Float32Array, record?: Map<string, Tensor>): Tensor {
    if (audioFrames(this.config, waveform.length) < 1) throw new ShapeError(`AudioEncoder: ${waveform.length} samples are too few for one feature frame`);
    const samples = this.config.normalize_input ? normalizeWaveform(waveform) : waveform;
    return device.scope(() => {
      const features = this.feature_extractor.forward(device.tensor([1, samples.length, 1], 'f32', samples));
      record?.set('extract_features', features.reshape(features.shape).keep());
      const projected = this.feature_projection.forward(features);
      record?.set('projected', projected.reshape(projected.shape).keep());
      return this.encoder.forward(projected, record);
    });
  }
}
