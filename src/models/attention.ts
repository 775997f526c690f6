/** Multi-head attention with diffusers' names (`to_q`, `to_k`, `to_v`, `to_out.0`) and the GEGLU feed-forward. */
import { ShapeError } from '../errors';
import { attentionStrided, type Strides } from '../ops/nn/attention';
import { geglu } from '../ops/math/unary';
import { concat, slice } from '../ops/tensor/slab';
import type { Tensor } from '../runtime/tensor';
import { Linear } from './layers';
import { Module } from './module';

/** A layer without parameters that keeps PyTorch's list indices (nn.Dropout at inference). */
export class Identity extends Module {}

/** Keys and values computed once from a fixed source (the ReferenceNet's tokens), [1 or B, L, heads·d]. */
export interface KeyValue {
  k: Tensor;
  v: Tensor;
}

export class Attention extends Module {
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: [Linear, Identity];
  readonly heads: number;
  readonly dimHead: number;

  constructor(queryDim: number, options: { crossAttentionDim?: number; heads: number; dimHead: number; bias?: boolean }) {
    super();
    const inner = options.heads * options.dimHead;
    const context = options.crossAttentionDim ?? queryDim;
    const bias = options.bias ?? false;
    this.to_q = new Linear(queryDim, inner, bias);
    this.to_k = new Linear(context, inner, bias);
    this.to_v = new Linear(context, inner, bias);
    this.to_out = [new Linear(inner, queryDim), new Identity()];
    this.heads = options.heads;
    this.dimHead = options.dimHead;
  }

  /** K and V of a fixed source, for `forward`'s `extra`. */
  keyValue(source: Tensor): KeyValue {
    return { k: this.to_k.forward(source), v: this.to_v.forward(source) };
  }

  /**
   * x [B, Lq, C] attends to `context` [B, Lk, Cc] (x itself by default) and, with `extra`, also to those keys
   * and values as if concatenated after the context's; `extra` of batch V splits the B items into V groups of
   * consecutive ones (a video's frames), each reading its own K/V without a copy (batch 1: shared by all).
   * `residual` is added by the output projection.
   */
  forward(x: Tensor, options: { context?: Tensor; extra?: KeyValue; residual?: Tensor } = {}): Tensor {
    const context = options.context ?? x;
    const [b, lq] = x.shape as [number, number, number];
    const lk = context.shape[1]!;
    const extra = options.extra;
    // Items are (source, item-of-source) pairs: with `extra` of batch V, the B items are V groups of B/V
    // consecutive ones (videos × frames) that all read their group's K/V through a batch stride of 0.
    const groups = extra ? extra.k.shape[0]! : b;
    if (b % groups !== 0) throw new ShapeError(`Attention: ${b} items do not split into the ${groups} groups of the extra keys/values`);
    const per = b / groups;
    const q = this.to_q.forward(x);
    const k = this.to_k.forward(context);
    const v = this.to_v.forward(context);
    const c = this.heads * this.dimHead;
    const flat = (l: number): Strides => [per * l * c, l * c, c, this.dimHead];
    const lk2 = extra ? extra.k.shape[1]! : 0;
    const extraStrides: Strides = [lk2 * c, 0, c, this.dimHead];
    const attended = attentionStrided({
      q: { tensor: q, strides: flat(lq) },
      k: { tensor: k, strides: flat(lk) },
      v: { tensor: v, strides: flat(lk) },
      k2: extra && { tensor: extra.k, strides: extraStrides },
      v2: extra && { tensor: extra.v, strides: extraStrides },
      out: { shape: [b, lq, c], strides: flat(lq) },
      batch: [groups, per],
      heads: this.heads,
      headDim: this.dimHead,
      lq,
      lk,
      lk2,
    });
    q.release();
    k.release();
    v.release();
    const out = this.to_out[0].forward(attended, { residual: options.residual });
    attended.release();
    return out;
  }
}

/** GEGLU's projection to 2·inner (value half first). */
export class GEGLU extends Module {
  readonly proj: Linear;

  constructor(dim: number, inner: number) {
    super();
    this.proj = new Linear(dim, inner * 2);
  }

  forward(x: Tensor): Tensor {
    const h = this.proj.forward(x);
    const out = geglu(h);
    h.release();
    return out;
  }
}

/** diffusers' FeedForward with GEGLU: `net.0.proj`, `net.2`, inner width 4·dim. */
export class FeedForward extends Module {
  readonly net: [GEGLU, Identity, Linear];

  constructor(dim: number, mult = 4) {
    super();
    this.net = [new GEGLU(dim, dim * mult), new Identity(), new Linear(dim * mult, dim)];
  }

  /**
   * x [..., dim] → [..., dim]. Its widest tensor is GEGLU's projection, [rows, 2·inner]: when that would not fit
   * one storage binding, rows run in blocks that do (each row is independent), so only the [rows, dim] output
   * is ever whole.
   */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const dim = x.shape[x.rank - 1]!;
    const rows = x.size / dim;
    const widest = 2 * this.net[2].inFeatures * 4;
    const block = Math.max(1, Math.floor(x.device.info.limits.maxStorageBufferBindingSize / widest));
    if (rows <= block) return this.forwardRows(x, residual);
    return x.device.scope(() => {
      const flat = (t: Tensor) => t.reshape([rows, dim]);
      const [xs, rs] = [flat(x), residual && flat(residual)];
      const parts: Tensor[] = [];
      for (let r = 0; r < rows; r += block) {
        const end = Math.min(rows, r + block);
        parts.push(this.forwardRows(slice(xs, 0, r, end), rs && slice(rs, 0, r, end)));
      }
      return concat(parts, 0).reshape(x.shape);
    });
  }

  private forwardRows(x: Tensor, residual?: Tensor): Tensor {
    const h = this.net[0].forward(x);
    const out = this.net[2].forward(h, { residual });
    h.release();
    return out;
  }
}
