import source from '../../../shaders/nn/timestep_embedding.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** diffusers' sinusoidal timestep embedding on the GPU. */
export type TimestepEmbeddingSpec = { readonly FLIP: boolean; readonly WG: number };

/** `count`: timesteps × half (one item per sin/cos pair). */
export const timestepEmbeddingUniforms = uniformSchema({ count: 'u32', dim: 'u32' });

export const timestepEmbeddingKernel = defineKernel({ name: 'timestep_embedding', source, uniforms: timestepEmbeddingUniforms, bindings: () => [read('timesteps'), read('freqs'), write('out')] });

const WG = 64;

export function selectVariant(flipSinToCos: boolean): TimestepEmbeddingSpec {
  return { FLIP: flipSinToCos, WG };
}

export interface SinusoidalOptions {
  /** cos before sin (diffusers' `flip_sin_to_cos`, SD's setting). Default true. */
  flipSinToCos?: boolean;
  /** diffusers' `downscale_freq_shift`. Default 0. */
  downscaleFreqShift?: number;
  maxPeriod?: number;
}

/**
 * timesteps f32 [N] → [N, dim]: sin/cos of t · exp(−ln(maxPeriod) · i / (dim/2 − shift)), i < dim/2.
 *
 * @example
 * const emb = sinusoidalEmbedding(device.tensor([2], 'f32', [999, 1]), 320); // [2, 320], cos half first
 */
export function sinusoidalEmbedding(timesteps: Tensor, dim: number, options: SinusoidalOptions = {}): Tensor {
  if (timesteps.dtype !== 'f32' || timesteps.rank !== 1) throw new ShapeError(`sinusoidalEmbedding: timesteps must be f32 [N] (got [${timesteps.shape.join(', ')}] ${timesteps.dtype})`);
  if (!Number.isInteger(dim) || dim < 2) throw new ShapeError(`sinusoidalEmbedding: dim must be an integer >= 2 (got ${dim})`);
  const { flipSinToCos = true, downscaleFreqShift = 0, maxPeriod = 10000 } = options;
  const count = timesteps.shape[0]!;
  const device = timesteps.device;
  const out = device.tensor([count, dim], 'f32');
  const threads = count * Math.floor(dim / 2);
  if (threads === 0) return out;
  const half = Math.floor(dim / 2);
  // torch builds the frequencies in float32: exp of a float32 exponent, rounded to float32.
  const freqs = device.tensor([half], 'f32', Float32Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround((-Math.log(maxPeriod) * i) / (half - downscaleFreqShift))))));
  device.run(timestepEmbeddingKernel, selectVariant(flipSinToCos), {
    inputs: [timesteps, freqs],
    outputs: [out],
    uniforms: { count: threads, dim },
    workgroups: flatDispatch(threads, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  freqs.release();
  return out;
}
