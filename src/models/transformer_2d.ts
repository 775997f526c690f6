/**
 * Spatial transformer (weights-tools/flap_ref/transformer_2d.py): GroupNorm → 1x1 `proj_in` → FLAP's block →
 * 1x1 `proj_out` → + input. The block: attn1 over the frame's tokens and the ReferenceNet's (as extra keys and
 * values), attn2 to the pose tokens, attn_expr to the expression tokens, GEGLU feed-forward.
 */
import type { Tensor } from '../runtime/tensor';
import { Attention, FeedForward, type KeyValue } from './attention';
import { GroupNorm, LayerNorm, PointwiseConv2d } from './layers';
import { Module } from './module';

export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm_expr?: LayerNorm;
  readonly attn_expr?: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(dim: number, heads: number, dimHead: number, crossAttentionDim: number, expressionAttention: boolean) {
    super();
    this.norm1 = new LayerNorm(dim);
    this.attn1 = new Attention(dim, { heads, dimHead });
    this.norm2 = new LayerNorm(dim);
    this.attn2 = new Attention(dim, { crossAttentionDim, heads, dimHead });
    if (expressionAttention) {
      this.norm_expr = new LayerNorm(dim);
      this.attn_expr = new Attention(dim, { crossAttentionDim, heads, dimHead });
    }
    this.norm3 = new LayerNorm(dim);
    this.ff = new FeedForward(dim);
  }

  /** x [B, L, C] → the output and the normed tokens that entered attn1 (a ReferenceNet's feature). */
  forward(x: Tensor, pose: Tensor, expr: Tensor | undefined, reference?: KeyValue): { out: Tensor; normed: Tensor } {
    const device = x.device;
    return device.scope(() => {
      const normed = this.norm1.forward(x);
      let h = this.attn1.forward(normed, { extra: reference, residual: x });
      h = this.attn2.forward(this.norm2.forward(h), { context: pose, residual: h });
      if (this.attn_expr && this.norm_expr && expr) h = this.attn_expr.forward(this.norm_expr.forward(h), { context: expr, residual: h });
      return { out: this.ff.forward(this.norm3.forward(h), h), normed };
    });
  }
}

export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: PointwiseConv2d;
  readonly transformer_blocks: [BasicTransformerBlock];
  readonly proj_out: PointwiseConv2d;

  constructor(readonly key: string, heads: number, dimHead: number, inChannels: number, crossAttentionDim: number, groups: number, expressionAttention: boolean) {
    super();
    const inner = heads * dimHead;
    this.norm = new GroupNorm(groups, inChannels, 1e-6);
    this.proj_in = new PointwiseConv2d(inChannels, inner);
    this.transformer_blocks = [new BasicTransformerBlock(inner, heads, dimHead, crossAttentionDim, expressionAttention)];
    this.proj_out = new PointwiseConv2d(inner, inChannels);
  }

  /** x [N, H, W, C]; returns the output [N, H, W, C] and the attn1 input tokens [N, H·W, inner]. */
  forward(x: Tensor, pose: Tensor, expr: Tensor | undefined, reference?: KeyValue): { out: Tensor; normed: Tensor } {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    return x.device.scope(() => {
      const tokens = this.proj_in.forward(this.norm.forward(x)).reshape([n, h * w, -1]);
      const { out, normed } = this.transformer_blocks[0].forward(tokens, pose, expr, reference);
      return { out: this.proj_out.forward(out, { residual: x.reshape([n, h * w, c]) }).reshape([n, h, w, c]), normed };
    });
  }
}
