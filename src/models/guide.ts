/**
 * The geometry guide's encoder (weights-tools/flap_ref/guide.py): a part-label render of the head asset posed by
 * each frame's coefficients → latent-sized features added to the UNet's first features (conv_in's output).
 * The guide images themselves come from `HeadRenderer.renderGuides` (src/render/head.ts). Channels last.
 */
import type { Tensor } from '../runtime/tensor';
import type { GuideConfig } from './config';
import { Conv2d } from './layers';
import { Module } from './module';

export class GuideEncoder extends Module {
  readonly conv_in: Conv2d;
  readonly blocks: Conv2d[];
  readonly conv_out: Conv2d;

  constructor(readonly guide: GuideConfig, outChannels: number) {
    super();
    const ch = guide.channels;
    this.conv_in = new Conv2d(3, ch[0]!, 3, { padding: 1 });
    this.blocks = ch.slice(1).flatMap((b, i) => [new Conv2d(ch[i]!, ch[i]!, 3, { padding: 1 }), new Conv2d(ch[i]!, b, 3, { stride: 2, padding: 1 })]);
    this.conv_out = new Conv2d(ch[ch.length - 1]!, outChannels, 3, { padding: 1 });
  }

  /** guide [N, size, size, 3] in [0, 1] (zeros: no guide) → conv_out(…) + `residual`, [N, h, w, C0]. */
  forward(guide: Tensor, residual?: Tensor): Tensor {
    let h = this.conv_in.forward(guide, { activation: 'silu' });
    for (const conv of this.blocks) h = conv.forward(h, { activation: 'silu' });
    return this.conv_out.forward(h, { residual });
  }
}
