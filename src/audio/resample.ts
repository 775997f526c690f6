/**
 * Down-mixing and band-limited resampling (windowed-sinc with a Kaiser window), so speech at 44.1 or 48 kHz
 * reaches the audio encoder at 16 kHz without aliasing.
 */
import { InputError } from '../errors';

export function downmix(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new InputError('audio', 'has no channels');
  if (channels.length === 1) return channels[0]!.slice();
  const n = channels[0]!.length;
  const out = new Float32Array(n);
  for (const c of channels) {
    if (c.length !== n) throw new InputError('audio', 'channels have different lengths');
    for (let i = 0; i < n; i++) out[i] += c[i]! / channels.length;
  }
  return out;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * Resamples `x` from `from` Hz to `to` Hz. The low-pass cut-off is 0.95 of the lower Nyquist frequency;
 * `halfWidth` zero crossings each side (16 gives about 80 dB of stop-band with beta 8).
 */
export function resample(x: Float32Array, from: number, to: number, halfWidth = 16): Float32Array {
  if (!(from > 0 && to > 0)) throw new InputError('audio', `invalid sample rates ${from} -> ${to}`);
  if (from === to) return x.slice();
  const ratio = to / from;
  const n = Math.floor(x.length * ratio);
  const out = new Float32Array(n);
  const cutoff = 0.95 * Math.min(1, ratio); // relative to the input Nyquist
  const beta = 8;
  const i0beta = besselI0(beta);
  const reach = halfWidth / cutoff; // input samples each side
  for (let j = 0; j < n; j++) {
    const center = j / ratio;
    const lo = Math.max(0, Math.ceil(center - reach));
    const hi = Math.min(x.length - 1, Math.floor(center + reach));
    let acc = 0;
    let norm = 0;
    for (let i = lo; i <= hi; i++) {
      const d = i - center;
      const u = d / reach;
      const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - u * u))) / i0beta;
      const arg = Math.PI * d * cutoff;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      const w = window * sinc;
      acc += x[i]! * w;
      norm += w;
    }
    out[j] = norm ? acc / norm : 0;
  }
  return out;
}
