/**
 * Audio-to-FLAME head (weights-tools/flap_ref/audio2flame.py): features resampled linearly to the video's
 * frame count (a [frames, T] interpolation matrix built on the CPU, applied by matmul), projected, plus the
 * portrait's own coefficients and a sinusoidal frame table, pre-norm transformer layers, → 120 coefficients.
 */
import { add } from '../ops/math/binary';
import { matmul } from '../ops/math/matmul';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { Identity } from './attention';
import { SelfAttention } from './audio_encoder';
import type { Audio2FlameConfig } from './config';
import { LayerNorm, Linear } from './layers';
import { Module } from './module';

/** F.interpolate(mode='linear', align_corners=False) from `n` to `m` samples as an [m, n] matrix. */
export function linearResampleMatrix(n: number, m: number): Float32Array {
  const out = new Float32Array(m * n);
  const scale = n / m;
  for (let i = 0; i < m; i++) {
    const src = Math.max(Math.fround(scale * (i + 0.5) - 0.5), 0);
    const i0 = Math.min(Math.floor(src), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    const l = src - i0;
    out[i * n + i0]! += 1 - l;
    out[i * n + i1]! += l;
  }
  return out;
}

/** P[t, i] = sin(t·f_i) for i < H/2, cos(t·f_(i−H/2)) after, f_i = 10000^(−2i/H). */
export function sinusoidTable(length: number, dim: number): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(length * dim);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const f = Math.fround(Math.exp(Math.fround((-Math.log(10000) * i * 2) / dim)));
      const arg = Math.fround(t * f);
      out[t * dim + i] = Math.sin(arg);
      out[t * dim + half + i] = Math.cos(arg);
    }
  }
  return out;
}

export class Layer extends Module {
  readonly norm1: LayerNorm;
  readonly attn: SelfAttention;
  readonly norm2: LayerNorm;
  readonly ff: [Linear, Identity, Linear];

  constructor(hidden: number, heads: number, intermediate: number, eps: number) {
    super();
    this.norm1 = new LayerNorm(hidden, eps);
    this.attn = new SelfAttention(hidden, heads);
    this.norm2 = new LayerNorm(hidden, eps);
    this.ff = [new Linear(hidden, intermediate), new Identity(), new Linear(intermediate, hidden)];
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.attn.forward(this.norm1.forward(x), x);
      return this.ff[2].forward(this.ff[0].forward(this.norm2.forward(h), { activation: 'gelu' }), { residual: h });
    });
  }
}

export class Audio2Flame extends Module {
  readonly input_proj: Linear;
  readonly ref_proj?: Linear;
  readonly layers: Layer[];
  readonly norm: LayerNorm;
  readonly output_proj: Linear;

  constructor(readonly config: Audio2FlameConfig) {
    super();
    const h = config.hidden_size;
    this.input_proj = new Linear(config.input_dim, h);
    if (config.condition_on_reference) this.ref_proj = new Linear(config.num_coeffs, h);
    this.layers = Array.from({ length: config.num_layers }, () => new Layer(h, config.num_heads, config.intermediate_size, config.layer_norm_eps));
    this.norm = new LayerNorm(h, config.layer_norm_eps);
    this.output_proj = new Linear(h, config.num_coeffs);
  }

  /** features [1, T, D] → [frames, 120]; `refCoeffs` the portrait's own (zeros when absent). */
  forward(device: FlapDevice, features: Tensor, frames: number, refCoeffs?: Float32Array, record?: Map<string, Tensor>): Tensor {
    const c = this.config;
    return device.scope(() => {
      const t = features.shape[1]!;
      const resample = device.tensor([1, frames, t], 'f32', linearResampleMatrix(t, frames));
      let x = this.input_proj.forward(matmul(resample, features));
      if (this.ref_proj) {
        const ref = device.tensor([1, c.num_coeffs], 'f32', refCoeffs ?? new Float32Array(c.num_coeffs));
        x = add(x, this.ref_proj.forward(ref).reshape([1, 1, c.hidden_size]));
      }
      x = add(x, device.tensor([1, frames, c.hidden_size], 'f32', sinusoidTable(frames, c.hidden_size)));
      record?.set('embedded', x.reshape(x.shape).keep());
      this.layers.forEach((layer, i) => {
        x = layer.forward(x);
        record?.set(`layers.${i}`, x.reshape(x.shape).keep());
      });
      return this.output_proj.forward(this.norm.forward(x)).reshape([frames, c.num_coeffs]);
    });
  }
}
