/**
 * FLAP's UNet (weights-tools/flap_ref/unet.py): diffusers' `UNet2DConditionModel` layout and names,
 * conditioned on per-frame pose and expression tokens, with AnimateDiff motion modules when temporal.
 * Activations are channels last: sample [N, H, W, C].
 */
import { ShapeError } from '../errors';
import { silu } from '../ops/math/unary';
import type { Tensor } from '../runtime/tensor';
import type { KeyValue } from './attention';
import type { UNetConfig } from './config';
import { TimestepEmbedding } from './embeddings';
import { GuideEncoder } from './guide';
import { Conv2d, GroupNorm } from './layers';
import { Module } from './module';
import { Transformer2DModel } from './transformer_2d';
import { DownBlock, MidBlock, UpBlock, type UNetContext } from './unet_blocks';

export class UNet extends Module {
  readonly conv_in: Conv2d;
  readonly guide_encoder?: GuideEncoder;
  readonly time_embedding: TimestepEmbedding;
  readonly down_blocks: DownBlock[];
  readonly mid_block: MidBlock;
  readonly up_blocks: UpBlock[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(readonly config: UNetConfig, readonly temporal: boolean) {
    super();
    const widths = config.block_out_channels;
    const temb = widths[0]! * 4;
    this.conv_in = new Conv2d(config.in_channels, widths[0]!, 3, { padding: 1 });
    if (config.guide) this.guide_encoder = new GuideEncoder(config.guide, widths[0]!);
    this.time_embedding = new TimestepEmbedding(widths[0]!, temb);
    let out = widths[0]!;
    this.down_blocks = config.down_block_types.map((kind, i) => {
      const inp = out;
      out = widths[i]!;
      return new DownBlock(`down_blocks.${i}`, inp, out, temb, kind.startsWith('CrossAttn'), i === widths.length - 1, config, temporal);
    });
    this.mid_block = new MidBlock(widths[widths.length - 1]!, temb, config, temporal);
    const rev = [...widths].reverse();
    let prev = rev[0]!;
    this.up_blocks = config.up_block_types.map((kind, i) => {
      const block = new UpBlock(`up_blocks.${i}`, rev[Math.min(i + 1, widths.length - 1)]!, prev, rev[i]!, temb, kind.startsWith('CrossAttn'), i === widths.length - 1, config, temporal);
      prev = rev[i]!;
      return block;
    });
    this.conv_norm_out = new GroupNorm(config.norm_num_groups, widths[0]!, config.norm_eps);
    this.conv_out = new Conv2d(widths[0]!, config.out_channels, 3, { padding: 1 });
  }

  /** The spatial transformers in execution order (down, mid, up), keyed by module name. */
  transformers(): Transformer2DModel[] {
    return [
      ...this.down_blocks.flatMap((b) => b.attentions ?? []),
      ...this.mid_block.attentions,
      ...this.up_blocks.flatMap((b) => b.attentions ?? []),
    ];
  }

  /** Guide images [N, S, S, 3] → the guide encoder's features [N, h, w, C0], for `UNetContext.guideFeatures`. */
  encodeGuide(guide: Tensor): Tensor {
    if (!this.guide_encoder) throw new ShapeError('UNet: the config has no geometry guide (unet.guide) to encode');
    return this.guide_encoder.forward(guide);
  }

  /** K/V of each transformer's attn1 for ReferenceNet features [1, H·W, C] keyed like `transformers()`. */
  referenceKeyValues(features: ReadonlyMap<string, Tensor>): Map<string, KeyValue> {
    const out = new Map<string, KeyValue>();
    for (const t of this.transformers()) {
      const f = features.get(t.key);
      if (!f) throw new Error(`ReferenceNet features lack ${t.key}`);
      const kv = t.transformer_blocks[0].attn1.keyValue(f);
      out.set(t.key, { k: kv.k.keep(), v: kv.v.keep() });
    }
    return out;
  }

  /**
   * Bytes of the widest activation of a forward pass over `batch` items of h×w latents, feed-forwards aside
   * (they split their rows to fit): at each level, the up block's concatenation of its input and a skip, at
   * most [batch, h/2^l, w/2^l, width(l) + width(l+1)] f32. The pipeline splits its batch by this.
   */
  widestActivationBytes(batch: number, h: number, w: number): number {
    const widths = this.config.block_out_channels;
    return Math.max(...widths.map((c, l) => batch * (h >> l) * (w >> l) * (c + widths[Math.min(l + 1, widths.length - 1)]!) * 4));
  }

  /** Shape errors up front, named, instead of deep inside an op. */
  checkInputs(sample: Tensor, timesteps: readonly number[], ctx: UNetContext): void {
    const c = this.config;
    const where = this.temporal ? 'UNet' : 'ReferenceNet';
    const [n, h, w, ch] = sample.shape as [number, number, number, number];
    if (sample.rank !== 4 || ch !== c.in_channels) throw new ShapeError(`${where}: sample must be [N, H, W, ${c.in_channels}] (got [${sample.shape.join(', ')}])`);
    const scale = 2 ** (c.block_out_channels.length - 1);
    if (h % scale !== 0 || w % scale !== 0) throw new ShapeError(`${where}: latent ${h}x${w} must be a multiple of ${scale} (one halving per level)`);
    if (timesteps.length !== n) throw new ShapeError(`${where}: ${timesteps.length} timesteps for ${n} items`);
    if (!Number.isInteger(ctx.frames) || ctx.frames < 1 || n % ctx.frames !== 0) throw new ShapeError(`${where}: ${n} items are not whole clips of ${ctx.frames} frames`);
    if (this.temporal && c.motion_modules && ctx.frames > c.motion_max_frames) throw new ShapeError(`${where}: ${ctx.frames} frames exceed motion_max_frames (${c.motion_max_frames})`);
    const tokens = (name: string, t: Tensor | undefined) => {
      if (!t) return;
      if (t.rank !== 3 || t.shape[0] !== n || t.shape[2] !== c.cross_attention_dim) {
        throw new ShapeError(`${where}: ${name} tokens must be [${n}, K, ${c.cross_attention_dim}] (got [${t.shape.join(', ')}])`);
      }
    };
    if (this.guide_encoder) {
      const s = this.guide_encoder.guide.size;
      const g = ctx.guide, f = ctx.guideFeatures;
      if (f) {
        const want = [n, h, w, c.block_out_channels[0]!];
        if (f.shape.length !== 4 || f.shape.some((d, i) => d !== want[i])) throw new ShapeError(`${where}: guide features must be [${want.join(', ')}] (got [${f.shape.join(', ')}])`);
      } else if (!g) {
        throw new ShapeError(`${where}: the config has a geometry guide (unet.guide) but none was given`);
      } else if (g.rank !== 4 || g.shape[0] !== n || g.shape[1] !== s || g.shape[2] !== s || g.shape[3] !== 3) {
        throw new ShapeError(`${where}: guide must be [${n}, ${s}, ${s}, 3] (got [${g.shape.join(', ')}])`);
      }
    }
    tokens('pose', ctx.pose);
    tokens('expression', ctx.expr);
    if (c.expression_attention && !ctx.expr) throw new ShapeError(`${where}: the config has an expression path but no expression tokens were given`);
    for (const [key, kv] of ctx.reference ?? []) {
      const groups = kv.k.shape[0]!;
      if (n % groups !== 0 || (groups > 1 && (n / groups) % ctx.frames !== 0)) {
        throw new ShapeError(`${where}: reference ${key} has ${groups} items; ${n} items (clips of ${ctx.frames}) do not split into them`);
      }
    }
  }

  /** sample [N, H, W, in] (videos × frames, frames consecutive), one timestep per item → [N, H, W, out]. */
  forward(sample: Tensor, timesteps: readonly number[], ctx: UNetContext): Tensor {
    this.checkInputs(sample, timesteps, ctx);
    const device = sample.device;
    const record = (name: string, t: Tensor) => ctx.intermediates?.set(name, device.scope(() => t.reshape(t.shape)).keep());
    return device.scope(() => {
      const c = this.config;
      const tembSilu = silu(this.time_embedding.forward(device, timesteps, c.block_out_channels[0]!, c.flip_sin_to_cos, c.freq_shift));
      // With the guide already encoded, conv_in adds it in its epilogue: the same sum as the guide encoder adding conv_in's output.
      let h = this.conv_in.forward(sample, { residual: ctx.guideFeatures });
      if (this.guide_encoder && !ctx.guideFeatures) h = this.guide_encoder.forward(ctx.guide!, h);
      const skips: Tensor[] = [h];
      this.down_blocks.forEach((block, i) => {
        const { out, states } = block.forward(h, tembSilu, ctx);
        skips.push(...states);
        h = out;
        record(`down_blocks.${i}`, h);
      });
      h = this.mid_block.forward(h, tembSilu, ctx);
      record('mid_block', h);
      this.up_blocks.forEach((block, i) => {
        h = block.forward(h, skips.splice(skips.length - block.resnets.length), tembSilu, ctx);
        record(`up_blocks.${i}`, h);
      });
      return this.conv_out.forward(this.conv_norm_out.forward(h, { silu: true }));
    });
  }
}

