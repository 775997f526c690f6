/** ResNet block and the resampling convolutions, diffusers' names (weights-tools/flap_ref/resnet.py). */
import { add } from '../ops/math/binary';
import { upsampleNearest2x } from '../ops/tensor/upsample';
import type { Tensor } from '../runtime/tensor';
import { Conv2d, GroupNorm, Linear } from './layers';
import { Module } from './module';

export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj?: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly conv_shortcut?: Conv2d;

  constructor(inChannels: number, outChannels: number, tembChannels: number | null, groups: number, eps: number) {
    super();
    this.norm1 = new GroupNorm(groups, inChannels, eps);
    this.conv1 = new Conv2d(inChannels, outChannels, 3, { padding: 1 });
    if (tembChannels) this.time_emb_proj = new Linear(tembChannels, outChannels);
    this.norm2 = new GroupNorm(groups, outChannels, eps);
    this.conv2 = new Conv2d(outChannels, outChannels, 3, { padding: 1 });
    if (inChannels !== outChannels) this.conv_shortcut = new Conv2d(inChannels, outChannels, 1);
  }

  /** x [N, H, W, C]; `tembSilu` = SiLU(time embedding) [N, T] (computed once per UNet call). */
  forward(x: Tensor, tembSilu?: Tensor): Tensor {
    const device = x.device;
    return device.scope(() => {
      // The time embedding [N, C] is added per image: folded with conv1's bias into the conv's epilogue.
      let bias: Tensor | undefined;
      if (this.time_emb_proj && tembSilu) {
        const t = this.time_emb_proj.forward(tembSilu);
        bias = this.conv1.bias ? add(t, this.conv1.bias.tensor) : t;
      }
      const h = this.conv1.forward(this.norm1.forward(x, { silu: true }), { bias });
      const shortcut = this.conv_shortcut ? this.conv_shortcut.forward(x) : x;
      return this.conv2.forward(this.norm2.forward(h, { silu: true }), { residual: shortcut });
    });
  }
}

/** 3x3 convolution, stride 2, padding 1. */
export class Downsample2D extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { stride: 2, padding: 1 });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

/** Nearest ×2, then a 3x3 convolution. */
export class Upsample2D extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { padding: 1 });
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => this.conv.forward(upsampleNearest2x(x)));
  }
}
