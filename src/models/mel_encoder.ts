/**
 * The log-mel audio front end (weights-tools/flap_ref/mel_encoder.py; config `audio_encoder.type: "mel"`):
 * normalised 16 kHz speech → Hann-windowed frames → power spectrum as one matmul with [cos | sin] and a square →
 * triangular HTK-mel filters (stacked twice: power = re² + im²) → log → LayerNorm → Conv1d + GELU layers →
 * features [1, T, hidden] at sample_rate / hop_length frames per second. The window, DFT basis and filters are
 * computed here as the reference computes them; only `norm` and `convs` are weights.
 */
import { ShapeError } from '../errors';
import { binary } from '../ops/math/binary';
import { linear } from '../ops/math/matmul';
import { unary } from '../ops/math/unary';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { normalizeWaveform } from './audio_encoder';
import type { MelEncoderConfig } from './config';
import { Conv1d, LayerNorm } from './layers';
import { Module } from './module';

/** [n_fft / 2 + 1, n_mels] triangular filters equally spaced on the HTK mel scale (float64, as the reference). */
export function melFilters(nFft: number, nMels: number, sampleRate: number, fMin: number): Float64Array {
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  const lo = mel(fMin), hi = mel(sampleRate / 2);
  const edges = Array.from({ length: nMels + 2 }, (_, i) => 700 * (10 ** ((lo + ((hi - lo) * i) / (nMels + 1)) / 2595) - 1));
  const bins = nFft / 2 + 1;
  const out = new Float64Array(bins * nMels);
  for (let k = 0; k < bins; k++) {
    const f = (k * sampleRate) / nFft;
    for (let m = 0; m < nMels; m++) {
      const up = (f - edges[m]!) / (edges[m + 1]! - edges[m]!);
      const down = (edges[m + 2]! - f) / (edges[m + 2]! - edges[m + 1]!);
      out[k * nMels + m] = Math.max(0, Math.min(up, down));
    }
  }
  return out;
}

/** Frames of the reference's `unfold`: T = (S − win) // hop + 1. */
export const melFrames = (config: MelEncoderConfig, samples: number) => Math.max(0, Math.floor((samples - config.win_length) / config.hop_length) + 1);

export class MelEncoder extends Module {
  readonly norm: LayerNorm;
  readonly convs: Conv1d[];
  private basis?: Tensor;
  private filters?: Tensor;
  private epsilon?: Tensor;

  constructor(readonly config: MelEncoderConfig) {
    super();
    const { n_mels: mels, hidden_size: h, conv_kernel: k } = config;
    this.norm = new LayerNorm(mels, 1e-5);
    this.convs = Array.from({ length: config.num_conv_layers }, (_, i) => new Conv1d(i === 0 ? mels : h, h, k, { padding: Math.floor(k / 2) }));
  }

  /** Uploads the DFT basis and filter bank (as linear weights [out, in]). */
  override async prepare(device: FlapDevice): Promise<void> {
    this.releaseTables();
    const { win_length: win, n_fft: nFft, n_mels: mels } = this.config;
    const bins = nFft / 2 + 1;
    const basis = new Float32Array(2 * bins * win); // row j < bins: window · cos, then window · sin
    for (let n = 0; n < win; n++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / win);
      for (let k = 0; k < bins; k++) {
        const a = (2 * Math.PI * n * k) / nFft;
        basis[k * win + n] = w * Math.cos(a);
        basis[(bins + k) * win + n] = w * Math.sin(a);
      }
    }
    const fb = melFilters(nFft, mels, this.config.sample_rate, this.config.f_min);
    const filters = new Float32Array(mels * 2 * bins);
    for (let m = 0; m < mels; m++) for (let k = 0; k < bins; k++) filters[m * 2 * bins + k] = filters[m * 2 * bins + bins + k] = fb[k * mels + m]!;
    this.basis = device.tensor([2 * bins, win], 'f32', basis).keep();
    this.filters = device.tensor([mels, 2 * bins], 'f32', filters).keep();
    this.epsilon = device.tensor([mels], 'f32', new Float32Array(mels).fill(1e-6)).keep();
  }

  /** waveform: 16 kHz samples of one utterance → features [1, T, hidden]; `record` receives `log_mel` (kept). */
  forward(device: FlapDevice, waveform: Float32Array, record?: Map<string, Tensor>): Tensor {
    const { win_length: win, hop_length: hop } = this.config;
    const t = melFrames(this.config, waveform.length);
    if (t < 1) throw new ShapeError(`MelEncoder: ${waveform.length} samples are too few for one ${win}-sample frame`);
    if (!this.basis || !this.filters || !this.epsilon) throw new ShapeError('MelEncoder: prepare(device) first');
    const x = normalizeWaveform(waveform);
    const frames = new Float32Array(t * win);
    for (let i = 0; i < t; i++) frames.set(x.subarray(i * hop, i * hop + win), i * win);
    return device.scope(() => {
      const spectrum = linear(device.tensor([t, win], 'f32', frames), this.basis!);
      const mel = unary('log', linear(binary('mul', spectrum, spectrum), this.filters!, this.epsilon));
      record?.set('log_mel', mel.reshape([1, t, this.config.n_mels]).keep());
      let h = this.norm.forward(mel).reshape([1, t, this.config.n_mels]);
      for (const conv of this.convs) h = conv.forward(h, { activation: 'gelu' });
      return h;
    });
  }

  private releaseTables(): void {
    for (const tensor of [this.basis, this.filters, this.epsilon]) tensor?.release();
    this.basis = this.filters = this.epsilon = undefined;
  }

  protected override dispose(): void {
    this.releaseTables();
    super.dispose();
  }
}
