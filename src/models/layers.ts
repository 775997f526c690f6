/**
 * The PyTorch layers the models are made of (nn.Linear, nn.Conv2d, nn.Conv1d, nn.GroupNorm, nn.LayerNorm),
 * with their parameter names, running channels-last on the GPU. Weights of linears stay as loaded (f16 or
 * f32, matmul reads both); convolutions are re-laid once by `prepare()` after loading (ops/nn/conv2d.ts).
 */
import { ShapeError } from '../errors';
import type { Activation } from '../ops/activation';
import { linear } from '../ops/math/matmul';
import { conv1d, conv2d, convWeight, type Conv2dOptions, type ConvWeight } from '../ops/nn/conv2d';
import { groupNorm, layerNorm } from '../ops/nn/norm';
import type { Tensor } from '../runtime/tensor';
import { Module, Parameter } from './module';

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = new Parameter([outFeatures, inFeatures]);
    if (bias) this.bias = new Parameter([outFeatures]);
  }

  /** act(x W^T + b) + residual over the last dimension of x. */
  forward(x: Tensor, options: { activation?: Activation; residual?: Tensor } = {}): Tensor {
    return linear(x, this.weight.tensor, this.bias?.tensor, options);
  }
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  private prepared?: ConvWeight;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly options: Omit<Conv2dOptions, 'activation' | 'residual'> = {},
    bias = true,
  ) {
    super();
    // Loaded as [Cout, KH, KW, Cin/g], the layout conv2d reads (re-laid on the CPU by the loader).
    this.weight = new Parameter([outChannels, inChannels / (options.groups ?? 1), kernel, kernel], [0, 2, 3, 1]);
    if (bias) this.bias = new Parameter([outChannels]);
  }

  /** Wraps the loaded weight for the kernel (a view: nothing is copied). */
  override prepare(): void {
    this.prepared?.weight.release();
    this.prepared = convWeight(this.weight.tensor);
  }

  /** x [N, H, W, Cin] → act(conv + b) + residual, [N, OH, OW, Cout]; `bias` ([Cout] or [N, Cout]) replaces b. */
  forward(x: Tensor, options: { activation?: Activation; residual?: Tensor; bias?: Tensor } = {}): Tensor {
    if (!this.prepared) this.prepare();
    const { bias = this.bias?.tensor, ...rest } = options;
    return conv2d(x, this.prepared!, bias, { ...this.options, ...rest });
  }

  protected override dispose(): void {
    this.prepared?.weight.release();
    this.prepared = undefined;
    super.dispose();
  }
}

export class Conv1d extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  private prepared?: ConvWeight;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly options: { stride?: number; padding?: number; groups?: number } = {},
    bias = true,
  ) {
    super();
    // Loaded as [Cout, K, Cin/g] (re-laid on the CPU by the loader): conv2d's layout with a height of 1.
    this.weight = new Parameter([outChannels, inChannels / (options.groups ?? 1), kernel], [0, 2, 1]);
    if (bias) this.bias = new Parameter([outChannels]);
  }

  /** Wraps the loaded weight for the kernel (a view: nothing is copied). */
  override prepare(): void {
    this.prepared?.weight.release();
    const [cout, k, cin] = this.weight.tensor.shape as [number, number, number];
    const image = this.weight.tensor.reshape([cout, 1, k, cin]);
    this.prepared = convWeight(image);
    image.release();
  }

  /** x [N, L, Cin] → [N, OL, Cout]. */
  forward(x: Tensor, options: { activation?: Activation } = {}): Tensor {
    if (!this.prepared) this.prepare();
    return conv1d(x, this.prepared!, this.bias?.tensor, { ...this.options, ...options });
  }

  protected override dispose(): void {
    this.prepared?.weight.release();
    this.prepared = undefined;
    super.dispose();
  }
}

export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-5) {
    super();
    if (channels % groups !== 0) throw new ShapeError(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.weight = new Parameter([channels]);
    this.bias = new Parameter([channels]);
  }

  /** x [N, ..., C] channels last; `silu` fuses the activation that follows every GroupNorm in a UNet. */
  forward(x: Tensor, options: { silu?: boolean } = {}): Tensor {
    return groupNorm(x, this.weight.tensor, this.bias.tensor, this.groups, this.eps, options);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(readonly channels: number, readonly eps = 1e-5) {
    super();
    this.weight = new Parameter([channels]);
    this.bias = new Parameter([channels]);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight.tensor, this.bias.tensor, this.eps);
  }
}

/** nn.Conv2d with a 1x1 kernel ([out, in, 1, 1] weight) applied to channels-last tokens as a linear. */
export class PointwiseConv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(readonly inChannels: number, readonly outChannels: number) {
    super();
    this.weight = new Parameter([outChannels, inChannels, 1, 1]);
    this.bias = new Parameter([outChannels]);
  }

  forward(x: Tensor, options: { residual?: Tensor } = {}): Tensor {
    const w = this.weight.tensor.reshape([this.outChannels, this.inChannels]);
    const out = linear(x, w, this.bias.tensor, options);
    w.release();
    return out;
  }
}
