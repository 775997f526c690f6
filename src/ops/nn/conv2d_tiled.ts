import source from '../../../shaders/nn/conv2d_tiled.wgsl?raw';
import { defineKernel, read, write } from '../../runtime/kernel';
import type { Activation } from '../activation';
import { conv2dUniforms } from './conv2d_uniforms';

/**
 * conv2d's variant for GPUs (one group only): 64-pixel x 64-channel output tiles staged through workgroup
 * memory with coalesced input and weight reads (shaders/nn/conv2d_tiled.wgsl). `conv2d` dispatches it when the
 * autotuner (or the default on a GPU adapter) chooses `'tiled'`; the uniforms are conv2d's own.
 */
export type Conv2dTiledSpec = {
  /** The weight is stored as f16 (follows the prepared weight's dtype). */
  readonly W16: boolean;
  readonly ACT: Activation;
  readonly BIAS: boolean;
  readonly RESIDUAL: boolean;
};

export const conv2dTiledKernel = defineKernel({
  name: 'conv2d_tiled',
  source,
  uniforms: conv2dUniforms,
  bindings: (spec: Conv2dTiledSpec) => [
    read('x'),
    read('w', spec.W16 ? 'u32' : 'f32'),
    ...(spec.BIAS ? [read('bias')] : []),
    ...(spec.RESIDUAL ? [read('residual')] : []),
    write('out'),
  ],
});

/** Output pixels and channels per workgroup tile. */
export const TILE = 64;

/** Workgroups for `pixels` output pixels of `cout` channels: [channel tiles, pixel tiles, 1]. */
export function tiledDispatch(pixels: number, cout: number): [number, number, number] {
  return [Math.ceil(cout / TILE), Math.ceil(pixels / TILE), 1];
}
