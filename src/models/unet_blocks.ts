/**
 * UNet blocks (weights-tools/flap_ref/unet_blocks.py): diffusers' `resnets`, `attentions`, `downsamplers`,
 * `upsamplers`, plus AnimateDiff's `motion_modules` in a temporal UNet; within a layer resnet → attention →
 * motion module.
 */
import { concat } from '../ops/tensor/slab';
import type { Tensor } from '../runtime/tensor';
import type { KeyValue } from './attention';
import type { UNetConfig } from './config';
import { Module } from './module';
import { VanillaTemporalModule } from './motion_module';
import { Downsample2D, ResnetBlock2D, Upsample2D } from './resnet';
import { Transformer2DModel } from './transformer_2d';

/** What every block reads besides its input. Tensors in `collect`/`intermediates` are kept for the caller. */
export interface UNetContext {
  /** [B·F, Kp, D] and [B·F, Ke, D]. */
  pose: Tensor;
  expr?: Tensor;
  frames: number;
  /** Denoiser: K/V of the ReferenceNet's features for each transformer's attn1, by transformer name. */
  reference?: ReadonlyMap<string, KeyValue>;
  /** ReferenceNet: receives the tokens entering each attn1, by transformer name. */
  collect?: Map<string, Tensor>;
  /** Receives each block's output by name. */
  intermediates?: Map<string, Tensor>;
  /** Geometry guide images [B·F, S, S, 3] when the config has `guide` (zeros where the condition is dropped). */
  guide?: Tensor;
  /**
   * Or their encoding, `UNet.encodeGuide(guide)` [B·F, h, w, C0]: the guides do not change between a clip's
   * steps, so the sampler encodes them once per clip.
   */
  guideFeatures?: Tensor;
}

export function runAttention(attn: Transformer2DModel, h: Tensor, ctx: UNetContext): Tensor {
  const { out, normed } = attn.forward(h, ctx.pose, ctx.expr, ctx.reference?.get(attn.key));
  if (ctx.collect) ctx.collect.set(attn.key, normed.keep());
  else normed.release();
  return out;
}

abstract class LayeredBlock extends Module {
  readonly attentions?: Transformer2DModel[];
  readonly motion_modules?: VanillaTemporalModule[];

  constructor(prefix: string, channels: number, layers: number, cross: boolean, unet: UNetConfig, temporal: boolean) {
    super();
    const heads = unet.num_attention_heads;
    if (cross) {
      this.attentions = Array.from({ length: layers }, (_, j) =>
        new Transformer2DModel(`${prefix}.attentions.${j}`, heads, channels / heads, channels, unet.cross_attention_dim, unet.norm_num_groups, unet.expression_attention));
    }
    if (temporal) {
      this.motion_modules = Array.from({ length: layers }, () =>
        new VanillaTemporalModule(channels, unet.motion_num_attention_heads, unet.norm_num_groups, unet.motion_max_frames));
    }
  }

  protected layer(j: number, resnet: ResnetBlock2D, h: Tensor, tembSilu: Tensor, ctx: UNetContext): Tensor {
    let out = resnet.forward(h, tembSilu);
    if (this.attentions) {
      const next = runAttention(this.attentions[j]!, out, ctx);
      out.release();
      out = next;
    }
    if (this.motion_modules) {
      const next = this.motion_modules[j]!.forward(out, ctx.frames);
      out.release();
      out = next;
    }
    return out;
  }
}

export class DownBlock extends LayeredBlock {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers?: [Downsample2D];

  constructor(prefix: string, inChannels: number, outChannels: number, tembChannels: number, cross: boolean, final: boolean, unet: UNetConfig, temporal: boolean) {
    const n = unet.layers_per_block;
    super(prefix, outChannels, n, cross, unet, temporal);
    this.resnets = Array.from({ length: n }, (_, j) => new ResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, tembChannels, unet.norm_num_groups, unet.norm_eps));
    if (!final) this.downsamplers = [new Downsample2D(outChannels)];
  }

  /** Returns the output and the skip states (each resnet layer's output, then the downsampled one). */
  forward(h: Tensor, tembSilu: Tensor, ctx: UNetContext): { out: Tensor; states: Tensor[] } {
    const states: Tensor[] = [];
    let x = h;
    this.resnets.forEach((resnet, j) => {
      x = this.layer(j, resnet, x, tembSilu, ctx);
      states.push(x);
    });
    if (this.downsamplers) {
      x = this.downsamplers[0].forward(x);
      states.push(x);
    }
    return { out: x, states };
  }
}

export class UpBlock extends LayeredBlock {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers?: [Upsample2D];

  constructor(prefix: string, inChannels: number, prevOutputChannels: number, outChannels: number, tembChannels: number, cross: boolean, final: boolean, unet: UNetConfig, temporal: boolean) {
    const n = unet.layers_per_block + 1;
    super(prefix, outChannels, n, cross, unet, temporal);
    this.resnets = Array.from({ length: n }, (_, j) => {
      const skip = j === n - 1 ? inChannels : outChannels;
      const resnetIn = j === 0 ? prevOutputChannels : outChannels;
      return new ResnetBlock2D(resnetIn + skip, outChannels, tembChannels, unet.norm_num_groups, unet.norm_eps);
    });
    if (!final) this.upsamplers = [new Upsample2D(outChannels)];
  }

  /** `skips` holds this block's skip states, the last one consumed first. */
  forward(h: Tensor, skips: Tensor[], tembSilu: Tensor, ctx: UNetContext): Tensor {
    let x = h;
    this.resnets.forEach((resnet, j) => {
      const joined = concat([x, skips.pop()!], 3);
      x = this.layer(j, resnet, joined, tembSilu, ctx);
      joined.release();
    });
    if (this.upsamplers) x = this.upsamplers[0].forward(x);
    return x;
  }
}

export class MidBlock extends Module {
  readonly attentions: [Transformer2DModel];
  readonly resnets: [ResnetBlock2D, ResnetBlock2D];
  readonly motion_modules?: [VanillaTemporalModule];

  constructor(channels: number, tembChannels: number, unet: UNetConfig, temporal: boolean) {
    super();
    const heads = unet.num_attention_heads;
    this.attentions = [new Transformer2DModel('mid_block.attentions.0', heads, channels / heads, channels, unet.cross_attention_dim, unet.norm_num_groups, unet.expression_attention)];
    this.resnets = [0, 1].map(() => new ResnetBlock2D(channels, channels, tembChannels, unet.norm_num_groups, unet.norm_eps)) as [ResnetBlock2D, ResnetBlock2D];
    if (temporal) this.motion_modules = [new VanillaTemporalModule(channels, unet.motion_num_attention_heads, unet.norm_num_groups, unet.motion_max_frames)];
  }

  forward(h: Tensor, tembSilu: Tensor, ctx: UNetContext): Tensor {
    return h.device.scope(() => {
      let x = runAttention(this.attentions[0], this.resnets[0].forward(h, tembSilu), ctx);
      if (this.motion_modules) x = this.motion_modules[0].forward(x, ctx.frames);
      return this.resnets[1].forward(x, tembSilu);
    });
  }
}
