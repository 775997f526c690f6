/**
 * Temporal (motion) module, AnimateDiff's names (weights-tools/flap_ref/motion_module.py): attention across
 * the frames of a clip at every pixel, with AnimateDiff's interleaved sinusoidal frame positions added to the
 * normed input of each attention block (computed here, not stored in checkpoints).
 */
import { ShapeError } from '../errors';
import { add } from '../ops/math/binary';
import { temporalAttention } from '../ops/nn/attention';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { Attention, FeedForward } from './attention';
import { interleavedPositions } from './embeddings';
import { GroupNorm, LayerNorm, Linear } from './layers';
import { Module } from './module';

export class TemporalAttention extends Attention {
  private positions?: Tensor;

  constructor(readonly dim: number, heads: number, readonly maxFrames: number) {
    super(dim, { heads, dimHead: dim / heads });
  }

  /** Uploads the frame-position table once (at load, so generation allocates nothing that outlives it). */
  override prepare(device: FlapDevice): void {
    this.positions ??= device.tensor([this.maxFrames, 1, this.dim], 'f32', interleavedPositions(this.maxFrames, this.dim)).keep();
  }

  /** normed [B·F, P, C] (frames of a clip consecutive) → to_out(attention over frames) + residual. */
  temporal(normed: Tensor, frames: number, residual: Tensor): Tensor {
    if (frames > this.maxFrames) throw new ShapeError(`${frames} frames exceed the temporal position table (${this.maxFrames})`);
    const [bf, p, c] = normed.shape as [number, number, number];
    const device = normed.device;
    this.prepare(device);
    return device.scope(() => {
      const pe = this.positions!.view(0, [frames, 1, c]);
      const x = add(normed.reshape([bf / frames, frames, p, c]), pe).reshape([bf, p, c]);
      const grid = [bf, p, 1, c];
      const q = this.to_q.forward(x).reshape(grid);
      const k = this.to_k.forward(x).reshape(grid);
      const v = this.to_v.forward(x).reshape(grid);
      const attended = temporalAttention(q, k, v, frames, { heads: this.heads }).reshape([bf, p, c]);
      return this.to_out[0].forward(attended, { residual });
    });
  }

  protected override dispose(): void {
    this.positions?.release();
    this.positions = undefined;
    super.dispose();
  }
}

export class TemporalTransformerBlock extends Module {
  readonly attention_blocks: [TemporalAttention, TemporalAttention];
  readonly norms: [LayerNorm, LayerNorm];
  readonly ff: FeedForward;
  readonly ff_norm: LayerNorm;

  constructor(dim: number, heads: number, maxFrames: number) {
    super();
    this.attention_blocks = [new TemporalAttention(dim, heads, maxFrames), new TemporalAttention(dim, heads, maxFrames)];
    this.norms = [new LayerNorm(dim), new LayerNorm(dim)];
    this.ff = new FeedForward(dim);
    this.ff_norm = new LayerNorm(dim);
  }

  forward(x: Tensor, frames: number): Tensor {
    return x.device.scope(() => {
      let h = x;
      for (let i = 0; i < 2; i++) h = this.attention_blocks[i]!.temporal(this.norms[i]!.forward(h), frames, h);
      return this.ff.forward(this.ff_norm.forward(h), h);
    });
  }
}

export class TemporalTransformer3DModel extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: Linear;
  readonly transformer_blocks: [TemporalTransformerBlock];
  readonly proj_out: Linear;

  constructor(channels: number, heads: number, groups: number, maxFrames: number) {
    super();
    this.norm = new GroupNorm(groups, channels, 1e-6);
    this.proj_in = new Linear(channels, channels);
    this.transformer_blocks = [new TemporalTransformerBlock(channels, heads, maxFrames)];
    this.proj_out = new Linear(channels, channels);
  }

  /** x [B·F, H, W, C] → same shape. */
  forward(x: Tensor, frames: number): Tensor {
    const [bf, h, w, c] = x.shape as [number, number, number, number];
    return x.device.scope(() => {
      const tokens = this.proj_in.forward(this.norm.forward(x).reshape([bf, h * w, c]));
      const out = this.transformer_blocks[0].forward(tokens, frames);
      return this.proj_out.forward(out, { residual: x.reshape([bf, h * w, c]) }).reshape([bf, h, w, c]);
    });
  }
}

export class VanillaTemporalModule extends Module {
  readonly temporal_transformer: TemporalTransformer3DModel;

  constructor(channels: number, heads: number, groups: number, maxFrames: number) {
    super();
    this.temporal_transformer = new TemporalTransformer3DModel(channels, heads, groups, maxFrames);
  }

  forward(x: Tensor, frames: number): Tensor {
    return this.temporal_transformer.forward(x, frames);
  }
}
