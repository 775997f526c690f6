/**
 * Coefficient encoder (weights-tools/flap_ref/coeff_encoder.py): per frame, `global_rot` (3) → pose tokens and
 * the other 117 coefficients → expression tokens, each Linear → SiLU → Linear → LayerNorm. Guidance's
 * unconditional branch uses zero tokens, not these.
 */
import { ShapeError } from '../errors';
import { slice } from '../ops/tensor/slab';
import type { Tensor } from '../runtime/tensor';
import { Identity } from './attention';
import type { CoeffEncoderConfig } from './config';
import { LayerNorm, Linear } from './layers';
import { Module } from './module';

export class CoeffEncoder extends Module {
  readonly pose_mlp: [Linear, Identity, Linear];
  readonly pose_norm: LayerNorm;
  readonly expr_mlp: [Linear, Identity, Linear];
  readonly expr_norm: LayerNorm;

  constructor(readonly config: CoeffEncoderConfig) {
    super();
    const { hidden_size: h, token_dim: d } = config;
    this.pose_mlp = [new Linear(config.pose_dim, h), new Identity(), new Linear(h, config.pose_tokens * d)];
    this.pose_norm = new LayerNorm(d);
    this.expr_mlp = [new Linear(config.expr_dim, h), new Identity(), new Linear(h, config.expr_tokens * d)];
    this.expr_norm = new LayerNorm(d);
  }

  /** coeffs [N, 120] (N frames) → pose [N, Kp, D], expression [N, Ke, D]. */
  forward(coeffs: Tensor): { pose: Tensor; expr: Tensor } {
    const c = this.config;
    if (coeffs.rank !== 2 || coeffs.shape[1] !== c.pose_dim + c.expr_dim) {
      throw new ShapeError(`CoeffEncoder: expected [frames, ${c.pose_dim + c.expr_dim}] coefficients (got [${coeffs.shape.join(', ')}])`);
    }
    const n = coeffs.shape[0]!;
    return coeffs.device.scope(() => {
      const mlp = (m: [Linear, Identity, Linear], norm: LayerNorm, input: Tensor, k: number) =>
        norm.forward(m[2].forward(m[0].forward(input, { activation: 'silu' })).reshape([n, k, c.token_dim]));
      return {
        pose: mlp(this.pose_mlp, this.pose_norm, slice(coeffs, 1, 0, c.pose_dim), c.pose_tokens),
        expr: mlp(this.expr_mlp, this.expr_norm, slice(coeffs, 1, c.pose_dim, c.pose_dim + c.expr_dim), c.expr_tokens),
      };
    });
  }
}
