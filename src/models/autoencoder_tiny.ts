/**
 * The tiny conv autoencoder (weights-tools/flap_ref/autoencoder_tiny.py): 8× down, 4 latent channels, only
 * 3x3 convs, ReLU, additions and nearest ×2 upsampling. Images channels last in [-1, 1].
 */
import { relu } from '../ops/math/unary';
import { upsampleNearest2x } from '../ops/tensor/upsample';
import type { Tensor } from '../runtime/tensor';
import { Identity } from './attention';
import type { TinyAutoencoderConfig } from './config';
import { Conv2d } from './layers';
import { Module } from './module';
import { scaleBy } from './scale';

const conv = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 3, { stride, padding: 1 });

/** relu(conv.4(relu(conv.2(relu(conv.0(x))))) + x). */
export class Block extends Module {
  readonly conv: [Conv2d, Identity, Conv2d, Identity, Conv2d];

  constructor(c: number) {
    super();
    this.conv = [conv(c, c), new Identity(), conv(c, c), new Identity(), conv(c, c)];
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.conv[2].forward(this.conv[0].forward(x, { activation: 'relu' }), { activation: 'relu' });
      return relu(this.conv[4].forward(h, { residual: x }));
    });
  }
}

const runBlocks = (blocks: Block[], x: Tensor) => blocks.reduce((h, b) => b.forward(h), x);

export class EncoderLevel extends Module {
  readonly down: Conv2d;
  readonly blocks: Block[];

  constructor(c: number, n: number) {
    super();
    this.down = conv(c, c, 2);
    this.blocks = Array.from({ length: n }, () => new Block(c));
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => runBlocks(this.blocks, this.down.forward(x)));
  }
}

export class DecoderLevel extends Module {
  readonly blocks: Block[];
  readonly up: Conv2d;

  constructor(c: number, n: number) {
    super();
    this.blocks = Array.from({ length: n }, () => new Block(c));
    this.up = conv(c, c);
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => this.up.forward(upsampleNearest2x(runBlocks(this.blocks, x))));
  }
}

export class TinyEncoder extends Module {
  readonly conv_in: Conv2d;
  readonly levels: EncoderLevel[];
  readonly conv_out: Conv2d;

  constructor(cin: number, c: number, latent: number, n: number) {
    super();
    this.conv_in = conv(cin, c);
    this.levels = [0, 1, 2].map(() => new EncoderLevel(c, n));
    this.conv_out = conv(c, latent);
  }

  forward(x: Tensor, record?: Map<string, Tensor>): Tensor {
    return x.device.scope(() => {
      let h = this.conv_in.forward(x);
      this.levels.forEach((level, i) => {
        h = level.forward(h);
        record?.set(`encoder.levels.${i}`, h.reshape(h.shape).keep());
      });
      return this.conv_out.forward(h);
    });
  }
}

export class TinyDecoder extends Module {
  readonly conv_in: Conv2d;
  readonly levels: DecoderLevel[];
  readonly blocks: Block[];
  readonly conv_out: Conv2d;

  constructor(latent: number, c: number, cout: number, n: number) {
    super();
    this.conv_in = conv(latent, c);
    this.levels = [0, 1, 2].map(() => new DecoderLevel(c, n));
    this.blocks = Array.from({ length: n }, () => new Block(c));
    this.conv_out = conv(c, cout);
  }

  forward(z: Tensor, record?: Map<string, Tensor>): Tensor {
    return z.device.scope(() => {
      let h = this.conv_in.forward(z, { activation: 'relu' });
      this.levels.forEach((level, i) => {
        h = level.forward(h);
        record?.set(`decoder.levels.${i}`, h.reshape(h.shape).keep());
      });
      return this.conv_out.forward(runBlocks(this.blocks, h));
    });
  }
}

export class TinyAutoencoder extends Module {
  readonly encoder: TinyEncoder;
  readonly decoder: TinyDecoder;

  constructor(readonly config: TinyAutoencoderConfig) {
    super();
    const { channels: c, blocks_per_level: n } = config;
    this.encoder = new TinyEncoder(config.in_channels, c, config.latent_channels, n);
    this.decoder = new TinyDecoder(config.latent_channels, c, config.out_channels, n);
  }

  /** images [N, H, W, 3] in [-1, 1] → latents [N, H/8, W/8, 4] · scaling_factor. */
  encode(x: Tensor, record?: Map<string, Tensor>): Tensor {
    return x.device.scope(() => scaleBy(this.encoder.forward(x, record), this.config.scaling_factor));
  }

  decode(z: Tensor, record?: Map<string, Tensor>): Tensor {
    return z.device.scope(() => this.decoder.forward(scaleBy(z, 1 / this.config.scaling_factor), record));
  }

  /** Bytes of the widest activation decoding one frame of h×w latents: [1, 8h, 8w, channels] f32. */
  decodeActivationBytes(h: number, w: number): number {
    return 64 * h * w * this.config.channels * 4;
  }
}
