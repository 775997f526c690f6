/**
 * ReferenceNet (weights-tools/flap_ref/reference_net.py): the 2-D UNet, run once per video on the portrait's
 * latent at t = 0; returns the tokens entering each spatial transformer's attn1, [B, H·W, C], keyed by the
 * transformer's module name. Its own names are the UNet's (it is one).
 */
import type { Tensor } from '../runtime/tensor';
import type { UNetConfig } from './config';
import { UNet } from './unet';

export class ReferenceNet extends UNet {
  constructor(config: UNetConfig) {
    super(config, false);
  }

  /**
   * latent [B, h, w, C]; tokens of the portrait's own coefficients; its guide [B, S, S, 3] when the config has
   * one. The returned tensors are kept.
   */
  features(latent: Tensor, pose: Tensor, expr: Tensor | undefined, intermediates?: Map<string, Tensor>, guide?: Tensor): Map<string, Tensor> {
    const collect = new Map<string, Tensor>();
    const out = this.forward(latent, new Array<number>(latent.shape[0]!).fill(0), { pose, expr, frames: 1, collect, intermediates, guide });
    out.release();
    return collect;
  }
}
