/**
 * Timestep and position embeddings. The timestep table is computed on the GPU (`sinusoidalEmbedding`); the CPU
 * version here is its float64 reference. The temporal position table is built once, on the CPU.
 */
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { sinusoidalEmbedding } from '../ops/nn/timestep_embedding';
import { Linear } from './layers';
import { Module } from './module';

/** diffusers' `get_timestep_embedding`: [N] timesteps → [N, dim] (cos first when flipSinToCos). */
export function timestepEmbedding(timesteps: readonly number[], dim: number, flipSinToCos = true, downscaleFreqShift = 0, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(timesteps.length * dim);
  timesteps.forEach((t, n) => {
    for (let i = 0; i < half; i++) {
      // Rounded through float32 like torch, which builds the frequencies in float32.
      const freq = Math.fround(Math.exp(Math.fround((-Math.log(maxPeriod) * i) / (half - downscaleFreqShift))));
      const arg = Math.fround(t * freq);
      const [sin, cos] = [Math.sin(arg), Math.cos(arg)];
      out[n * dim + (flipSinToCos ? half + i : i)] = sin;
      out[n * dim + (flipSinToCos ? i : half + i)] = cos;
    }
  });
  return out;
}

/** AnimateDiff's temporal position table [length, dim]: sin at even channels, cos at odd ones. */
export function interleavedPositions(length: number, dim: number): Float32Array {
  const out = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < dim; i += 2) {
      const div = Math.fround(Math.exp(Math.fround(i * Math.fround(-Math.log(10000) / dim))));
      const arg = Math.fround(p * div);
      out[p * dim + i] = Math.sin(arg);
      if (i + 1 < dim) out[p * dim + i + 1] = Math.cos(arg);
    }
  }
  return out;
}

/** linear_1 → SiLU → linear_2. */
export class TimestepEmbedding extends Module {
  readonly linear_1: Linear;
  readonly linear_2: Linear;

  constructor(inChannels: number, timeEmbedDim: number) {
    super();
    this.linear_1 = new Linear(inChannels, timeEmbedDim);
    this.linear_2 = new Linear(timeEmbedDim, timeEmbedDim);
  }

  forward(device: FlapDevice, timesteps: readonly number[], dim: number, flipSinToCos: boolean, freqShift: number): Tensor {
    const steps = device.tensor([timesteps.length], 'f32', timesteps);
    const t = sinusoidalEmbedding(steps, dim, { flipSinToCos, downscaleFreqShift: freqShift });
    steps.release();
    const h = this.linear_1.forward(t, { activation: 'silu' });
    t.release();
    const out = this.linear_2.forward(h);
    h.release();
    return out;
  }
}
