/**
 * SD's AutoencoderKL (weights-tools/flap_ref/autoencoder_kl.py), diffusers' names; channels last.
 * Limitation: the mid-block attention is one head over all channels and the attention kernel takes head
 * dims up to 256, so the 512-channel SD VAE's mid block needs a wider kernel (the test config's fits).
 */
import type { Tensor } from '../runtime/tensor';
import { Attention } from './attention';
import type { KLAutoencoderConfig } from './config';
import { Conv2d, GroupNorm, PointwiseConv2d } from './layers';
import { Module } from './module';
import { ResnetBlock2D, Upsample2D } from './resnet';
import { scaleBy } from './scale';
import { slice } from '../ops/tensor/slab';

const EPS = 1e-6;

export class VaeDownsample extends Module {
  readonly conv: Conv2d;

  constructor(channels: number) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { stride: 2, padding: [0, 0, 1, 1] });
  }

  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

/** One head over all pixels with its own GroupNorm, biases, and the input added back. */
export class SpatialSelfAttention extends Attention {
  readonly group_norm: GroupNorm;

  constructor(channels: number, groups: number) {
    super(channels, { heads: 1, dimHead: channels, bias: true });
    this.group_norm = new GroupNorm(groups, channels, EPS);
  }

  spatial(x: Tensor): Tensor {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    return x.device.scope(() => this.forward(this.group_norm.forward(x).reshape([n, h * w, c]), { residual: x.reshape([n, h * w, c]) }).reshape([n, h, w, c]));
  }
}

export class MidBlock extends Module {
  readonly attentions: [SpatialSelfAttention];
  readonly resnets: [ResnetBlock2D, ResnetBlock2D];

  constructor(channels: number, groups: number) {
    super();
    this.attentions = [new SpatialSelfAttention(channels, groups)];
    this.resnets = [new ResnetBlock2D(channels, channels, null, groups, EPS), new ResnetBlock2D(channels, channels, null, groups, EPS)];
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => this.resnets[1].forward(this.attentions[0].spatial(this.resnets[0].forward(x))));
  }
}

export class DownEncoderBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers?: [VaeDownsample];

  constructor(cin: number, cout: number, layers: number, groups: number, final: boolean) {
    super();
    this.resnets = Array.from({ length: layers }, (_, j) => new ResnetBlock2D(j === 0 ? cin : cout, cout, null, groups, EPS));
    if (!final) this.downsamplers = [new VaeDownsample(cout)];
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.resnets.reduce((acc, r) => r.forward(acc), x);
      return this.downsamplers ? this.downsamplers[0].forward(h) : h;
    });
  }
}

export class UpDecoderBlock extends Module {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers?: [Upsample2D];

  constructor(cin: number, cout: number, layers: number, groups: number, final: boolean) {
    super();
    this.resnets = Array.from({ length: layers }, (_, j) => new ResnetBlock2D(j === 0 ? cin : cout, cout, null, groups, EPS));
    if (!final) this.upsamplers = [new Upsample2D(cout)];
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.resnets.reduce((acc, r) => r.forward(acc), x);
      return this.upsamplers ? this.upsamplers[0].forward(h) : h;
    });
  }
}

export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down_blocks: DownEncoderBlock[];
  readonly mid_block: MidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(c: KLAutoencoderConfig) {
    super();
    const w = c.block_out_channels;
    this.conv_in = new Conv2d(c.in_channels, w[0]!, 3, { padding: 1 });
    this.down_blocks = w.map((out, i) => new DownEncoderBlock(w[Math.max(i - 1, 0)]!, out, c.layers_per_block, c.norm_num_groups, i === w.length - 1));
    this.mid_block = new MidBlock(w[w.length - 1]!, c.norm_num_groups);
    this.conv_norm_out = new GroupNorm(c.norm_num_groups, w[w.length - 1]!, EPS);
    this.conv_out = new Conv2d(w[w.length - 1]!, 2 * c.latent_channels, 3, { padding: 1 });
  }

  forward(x: Tensor, record?: Map<string, Tensor>): Tensor {
    return x.device.scope(() => {
      let h = this.conv_in.forward(x);
      this.down_blocks.forEach((b, i) => {
        h = b.forward(h);
        record?.set(`encoder.down_blocks.${i}`, h.reshape(h.shape).keep());
      });
      h = this.mid_block.forward(h);
      record?.set('encoder.mid_block', h.reshape(h.shape).keep());
      return this.conv_out.forward(this.conv_norm_out.forward(h, { silu: true }));
    });
  }
}

export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly mid_block: MidBlock;
  readonly up_blocks: UpDecoderBlock[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(c: KLAutoencoderConfig) {
    super();
    const rev = [...c.block_out_channels].reverse();
    this.conv_in = new Conv2d(c.latent_channels, rev[0]!, 3, { padding: 1 });
    this.mid_block = new MidBlock(rev[0]!, c.norm_num_groups);
    this.up_blocks = rev.map((out, i) => new UpDecoderBlock(rev[Math.max(i - 1, 0)]!, out, c.layers_per_block + 1, c.norm_num_groups, i === rev.length - 1));
    this.conv_norm_out = new GroupNorm(c.norm_num_groups, c.block_out_channels[0]!, EPS);
    this.conv_out = new Conv2d(c.block_out_channels[0]!, c.out_channels, 3, { padding: 1 });
  }

  forward(z: Tensor, record?: Map<string, Tensor>): Tensor {
    return z.device.scope(() => {
      let h = this.mid_block.forward(this.conv_in.forward(z));
      record?.set('decoder.mid_block', h.reshape(h.shape).keep());
      this.up_blocks.forEach((b, i) => {
        h = b.forward(h);
        record?.set(`decoder.up_blocks.${i}`, h.reshape(h.shape).keep());
      });
      return this.conv_out.forward(this.conv_norm_out.forward(h, { silu: true }));
    });
  }
}

export class AutoencoderKL extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: PointwiseConv2d;
  readonly post_quant_conv: PointwiseConv2d;

  constructor(readonly config: KLAutoencoderConfig) {
    super();
    this.encoder = new Encoder(config);
    this.decoder = new Decoder(config);
    this.quant_conv = new PointwiseConv2d(2 * config.latent_channels, 2 * config.latent_channels);
    this.post_quant_conv = new PointwiseConv2d(config.latent_channels, config.latent_channels);
  }

  /** images [N, H, W, 3] in [-1, 1] → the posterior mean [N, H/8, W/8, 4] · scaling_factor. */
  encode(x: Tensor, record?: Map<string, Tensor>): Tensor {
    return x.device.scope(() => {
      const moments = this.quant_conv.forward(this.encoder.forward(x, record));
      return scaleBy(slice(moments, 3, 0, this.config.latent_channels), this.config.scaling_factor);
    });
  }

  decode(z: Tensor, record?: Map<string, Tensor>): Tensor {
    return z.device.scope(() => this.decoder.forward(this.post_quant_conv.forward(scaleBy(z, 1 / this.config.scaling_factor)), record));
  }

  /**
   * Bytes of the widest activation decoding one frame of h×w latents: at each scale 2^s, an up block's input
   * (the previous block's channels, upsampled) or output, [1, h·2^s, w·2^s, channels] f32.
   */
  decodeActivationBytes(h: number, w: number): number {
    const rev = [...this.config.block_out_channels].reverse();
    return Math.max(...rev.map((c, s) => h * w * 4 ** s * Math.max(c, rev[Math.max(s - 1, 0)]!) * 4));
  }
}
