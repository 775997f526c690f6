import source from '../../../shaders/nn/conv2d.wgsl?raw';
import { LimitExceededError, ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import type { DeviceInfo, FlapDevice } from '../../runtime/device';
import type { Tensor } from '../../runtime/tensor';
import { autotune, tunedChoice, tuningData, type TuneResult } from '../tune';
import type { Activation } from '../activation';
import { linear } from '../math/matmul';
import { cast } from '../tensor/cast';
import { permute } from '../tensor/permute';
import { conv2dUniforms } from './conv2d_uniforms';
import { conv2dTiledKernel, tiledDispatch, type Conv2dTiledSpec } from './conv2d_tiled';

/** 2-D convolution, channels last, as an implicit GEMM; 1x1 stride-1 unpadded convolutions go through matmul. */
export type Conv2dSpec = {
  /** Output channels per thread (they share a group). */
  readonly CO: 1 | 2 | 4 | 8 | 16;
  /** Neighbouring output pixels of a row per thread. */
  readonly PX: 1 | 4 | 8;
  /** Input channels per group are a multiple of 4: vec4 loads. */
  readonly VEC: boolean;
  /** The weight is stored as f16 (follows the prepared weight's dtype). */
  readonly W16: boolean;
  readonly ACT: Activation;
  readonly BIAS: boolean;
  readonly RESIDUAL: boolean;
  readonly WG: number;
};

/** x and the weight (f16 packed in u32 words), then the optional bias and residual, then the output. */
export const conv2dKernel = defineKernel({
  name: 'conv2d',
  source,
  uniforms: conv2dUniforms,
  bindings: (spec: Conv2dSpec) => {
    const xt = spec.VEC ? 'vec4<f32>' : 'f32';
    return [
      read('x', xt),
      read('w', spec.W16 ? (spec.VEC ? 'vec2<u32>' : 'u32') : xt),
      ...(spec.BIAS ? [read('bias')] : []),
      ...(spec.RESIDUAL ? [read('residual')] : []),
      write('out'),
    ];
  },
});

const WG = 64;

/**
 * A convolution weight ready for `conv2d`: PyTorch's [Cout, Cin/groups, KH, KW] re-laid once, at load, as
 * [Cout, KH, KW, Cin/groups] (so the reduction over input channels reads contiguous memory), in the dtype it came
 * in (f16 stays f16 and is unpacked in the kernel); a 1x1 weight stays [Cout, Cin] for matmul.
 */
export interface ConvWeight {
  readonly weight: Tensor;
  readonly cout: number;
  readonly cinPerGroup: number;
  readonly kh: number;
  readonly kw: number;
}

/**
 * A weight already laid out as [Cout, KH, KW, Cin/g] (the model loader re-lays conv weights on the CPU) as a
 * `ConvWeight`: a view of it (a 1x1 one as [Cout, Cin/g] for matmul); the caller keeps its own reference.
 */
export function convWeight(laid: Tensor): ConvWeight {
  if (laid.rank !== 4) throw new ShapeError(`conv weight must be laid out [Cout, KH, KW, Cin/g] (got [${laid.shape.join(', ')}])`);
  const [cout, kh, kw, cinPerGroup] = laid.shape as [number, number, number, number];
  const weight = kh === 1 && kw === 1 ? laid.reshape([cout, cinPerGroup]) : laid.reshape(laid.shape);
  return { weight: weight.keep(), cout, cinPerGroup, kh, kw };
}

/** Prepares a PyTorch conv weight [Cout, Cin/g, KH, KW] (or conv1d's [Cout, Cin/g, K]) on the GPU; the input is not consumed. */
export function prepareConvWeight(w: Tensor): ConvWeight {
  const shape = w.rank === 3 ? [w.shape[0]!, w.shape[1]!, 1, w.shape[2]!] : [...w.shape];
  if (shape.length !== 4) throw new ShapeError(`conv weight must be [Cout, Cin/g, KH, KW] or [Cout, Cin/g, K] (got [${w.shape.join(', ')}])`);
  const [cout, cinPerGroup, kh, kw] = shape as [number, number, number, number];
  if (kh === 1 && kw === 1) {
    return { weight: w.reshape([cout, cinPerGroup]).keep(), cout, cinPerGroup, kh, kw };
  }
  // permute is f32-only: an f16 weight goes through f32 once, at load.
  const f32 = w.dtype === 'f32' ? w : cast(w, 'f32');
  const view = f32.reshape([cout, cinPerGroup, kh, kw]);
  let weight = permute(view, [0, 2, 3, 1]);
  view.release();
  if (f32 !== w) {
    f32.release();
    const f16 = cast(weight, 'f16');
    weight.release();
    weight = f16;
  }
  return { weight, cout, cinPerGroup, kh, kw };
}

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  /** Symmetric padding, [padH, padW], or [top, left, bottom, right]. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
  activation?: Activation;
  /** f32 of the output's shape, added after the activation. */
  residual?: Tensor;
  /**
   * Force a register blocking or the workgroup-tiled GPU kernel (tests: every variant must stay correct; the
   * autotuner); the rest of the spec follows the call. By default: the tuned winner for the shape, else
   * `selectBlocking` on CPU-backed adapters and `'tiled'` (one group) on GPUs.
   */
  variant?: Conv2dVariant;
}

/** The register blocking of a conv2d specialisation: what a caller may force. */
export type Conv2dBlocking = Pick<Conv2dSpec, 'CO' | 'PX' | 'VEC'>;
/** A register blocking of conv2d.wgsl, or conv2d_tiled.wgsl (one group only). */
export type Conv2dVariant = Conv2dBlocking | 'tiled';

/** What selects a conv2d variant. */
export interface Conv2dShape {
  kh: number;
  kw: number;
  stride: number;
  groups: number;
  cinPerGroup: number;
  cout: number;
  outW: number;
  /** Output pixels of the whole batch. */
  pixels: number;
}

/** Tuning class of a shape: kernel, stride, grouping and channels exactly, pixels by power of two. */
export function conv2dShapeClass(s: Conv2dShape): string {
  return `${s.kh}x${s.kw}/s${s.stride}/g${s.groups}/${s.cinPerGroup}->${s.cout}/w${Math.min(s.outW, 16)}/p2^${Math.round(Math.log2(Math.max(1, s.pixels)))}`;
}

/** The name the tuner records for a variant, and back. */
export function conv2dChoiceName(v: Conv2dVariant): string {
  return v === 'tiled' ? 'tiled' : `co${v.CO}-px${v.PX}`;
}

function parseChoice(name: string, s: Conv2dShape): Conv2dVariant | undefined {
  if (name === 'tiled') return s.groups === 1 ? 'tiled' : undefined;
  const m = /^co(\d+)-px(\d)$/.exec(name);
  return m ? { CO: Number(m[1]) as Conv2dSpec['CO'], PX: Number(m[2]) as Conv2dSpec['PX'], VEC: s.cinPerGroup % 4 === 0 } : undefined;
}

/** The variant `conv2d` runs for a shape on this adapter: forced, else tuned, else the adapter kind's default. */
export function selectConv2d(info: DeviceInfo, s: Conv2dShape, forced?: Conv2dVariant): Conv2dVariant {
  if (forced) return forced;
  const tuned = tunedChoice(info, 'conv2d', conv2dShapeClass(s));
  const parsed = tuned === undefined ? undefined : parseChoice(tuned, s);
  if (parsed) return parsed;
  return !info.isCpuBacked && s.groups === 1 ? 'tiled' : selectBlocking(s.cout, s.groups, s.cinPerGroup, s.outW, s.kh * s.kw);
}

const pair = (v: number | readonly number[] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0]!, v[1]!];

/** The largest Cin/g x KH x KW for which 16 output channels per thread are chosen. */
const SMALL_BLOCK = 4096;

/**
 * Register blocking, measured on SwiftShader (tests/ops/nn/conv2d_perf.mjs, GFLOP/s per CPU-second, 3x3, the
 * mini UNet's batch of 20 frames, machine alone): 8 pixels wherever a row has at least 8, and then 16 output
 * channels where a channel's weights are small (Cin/g x KH x KW <= SMALL_BLOCK), since each input value loaded
 * feeds twice the multiply-adds: against the earlier 8 x 4 (8x8 rows) and 8 x 8 (16x16 rows), mini 96 -> 96 at
 * 8x8 2.30 vs 1.47, 48 -> 48 at 16x16 1.71 vs 1.28, the up blocks' 256 -> 96 at 8x8 2.18 vs 1.31, sd15's 320 ->
 * 320 at 32x32 1.88 vs 1.32. sd15's 640-channel convs keep 8 channels (measured even); 4-pixel rows keep 8 x 4
 * (16 x 4 won one shape of two). A single output channel per group (depthwise) keeps CO = 1, images narrower
 * than 4 pixels PX = 1.
 */
export function selectBlocking(cout: number, groups: number, cinPerGroup: number, outW: number, taps: number): Conv2dBlocking {
  const coutPerGroup = cout / groups;
  const PX = outW >= 8 ? 8 : outW >= 4 ? 4 : 1;
  const widths = PX === 8 && cinPerGroup * taps <= SMALL_BLOCK ? ([16, 8, 4, 2, 1] as const) : ([8, 4, 2, 1] as const);
  const CO = widths.find((c) => coutPerGroup % c === 0)!;
  return { CO, PX, VEC: cinPerGroup % 4 === 0 };
}

/**
 * act(conv2d(x, w) + bias) + residual. x f32 [N, H, W, Cin] (channels last); w from `prepareConvWeight`;
 * bias f32 [Cout], or [N, Cout] for a bias per image. Returns f32 [N, OH, OW, Cout].
 *
 * @example
 * const y = conv2d(x, prepared, bias, { padding: 1, activation: 'silu' }); // 3x3, same size
 */
export function conv2d(x: Tensor, w: ConvWeight, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  if (x.rank !== 4 || x.dtype !== 'f32') throw new ShapeError(`conv2d: input must be f32 [N, H, W, Cin] (got [${x.shape.join(', ')}] ${x.dtype})`);
  const [n, h, wid, cin] = x.shape as [number, number, number, number];
  const groups = options.groups ?? 1;
  const [sh, sw] = pair(options.stride, 1);
  const [dh, dw] = pair(options.dilation, 1);
  const p = options.padding ?? 0;
  const [top, left, bottom, right] =
    typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[0], p[1], p[2], p[3]];
  if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0 || w.cout % groups !== 0 || cin / groups !== w.cinPerGroup) {
    throw new ShapeError(`conv2d: ${cin} input channels, ${groups} groups and a weight of ${w.cinPerGroup} channels per group do not fit`);
  }
  const perImage = bias?.rank === 2;
  const biasFits = bias && (perImage ? bias.shape[0] === n && bias.shape[1] === w.cout : bias.rank === 1 && bias.shape[0] === w.cout);
  if (bias && (bias.dtype !== 'f32' || !biasFits)) {
    throw new ShapeError(`conv2d: bias must be f32 [${w.cout}] or [${n}, ${w.cout}] (got [${bias.shape.join(', ')}] ${bias.dtype})`);
  }
  const oh = Math.floor((h + top + bottom - dh * (w.kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wid + left + right - dw * (w.kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) throw new ShapeError(`conv2d: a ${w.kh}x${w.kw} kernel does not fit a ${h}x${wid} input with this padding`);
  const outShape = [n, oh, ow, w.cout];
  const residual = options.residual;
  if (residual && (residual.dtype !== 'f32' || residual.shape.length !== 4 || residual.shape.some((d, i) => d !== outShape[i]))) {
    throw new ShapeError(`conv2d: residual must be f32 [${outShape.join(', ')}] (got [${residual.shape.join(', ')}])`);
  }
  const activation = options.activation ?? 'none';
  const pointwise = w.kh === 1 && w.kw === 1 && sh === 1 && sw === 1 && top + left + bottom + right === 0 && groups === 1;
  if (pointwise && !perImage) {
    const rows = x.reshape([n * h * wid, cin]);
    const res = residual?.reshape([n * h * wid, w.cout]);
    const y = linear(rows, w.weight, bias, { activation, residual: res });
    const out = y.reshape(outShape);
    for (const t of [rows, res, y]) t?.release();
    return out;
  }
  const device = x.device;
  const out = device.tensor(outShape, 'f32');
  const pixels = n * oh * ow;
  if (pixels === 0) return out;
  // The epilogue and the weight's dtype follow the tensors passed; only the variant may be forced.
  const variant = selectConv2d(device.info, { kh: w.kh, kw: w.kw, stride: sh, groups, cinPerGroup: w.cinPerGroup, cout: w.cout, outW: ow, pixels }, options.variant);
  const epilogue = { W16: w.weight.dtype === 'f16', ACT: activation, BIAS: !!bias, RESIDUAL: !!residual };
  // A 1x1 weight kept [Cout, Cin] for matmul is already [Cout, 1, 1, Cin] for the implicit GEMM.
  const run = {
    inputs: [x, w.weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])],
    outputs: [out],
    uniforms: {
      pixels, cin, cout: w.cout, groups, in_h: h, in_w: wid, out_h: oh, out_w: ow, kh: w.kh, kw: w.kw,
      stride_h: sh, stride_w: sw, dil_h: dh, dil_w: dw, pad_top: top, pad_left: left, bias_stride: perImage ? w.cout : 0,
    },
  };
  const maxGroups = device.info.limits.maxComputeWorkgroupsPerDimension;
  if (variant === 'tiled') {
    if (groups !== 1) throw new ShapeError(`conv2d: the tiled variant takes one group (got ${groups})`);
    const workgroups = tiledDispatch(pixels, w.cout);
    if (workgroups[1] > maxGroups) throw new LimitExceededError(`conv2d: tiled needs ${workgroups[1]} pixel tiles (limit ${maxGroups} per dimension)`);
    device.run(conv2dTiledKernel, epilogue satisfies Conv2dTiledSpec, { ...run, workgroups });
    return out;
  }
  const spec: Conv2dSpec = { ...variant, ...epilogue, WG };
  if (w.cout / groups % spec.CO !== 0 || (spec.VEC && w.cinPerGroup % 4 !== 0)) {
    throw new ShapeError(`conv2d: variant CO=${spec.CO} VEC=${spec.VEC} does not fit ${w.cout / groups} output and ${w.cinPerGroup} input channels per group`);
  }
  const threads = n * oh * Math.ceil(ow / spec.PX) * (w.cout / spec.CO);
  device.run(conv2dKernel, spec, { ...run, workgroups: flatDispatch(threads, WG, maxGroups) });
  return out;
}

/**
 * The variants the tuner tries for a shape: the tiled kernel (one group), the default blocking, and 4, 8 or 16
 * channels by 4 or 8 pixels where they fit (narrower blockings never won a measured shape).
 */
export function conv2dCandidates(s: Conv2dShape): Conv2dVariant[] {
  const VEC = s.cinPerGroup % 4 === 0;
  const base = selectBlocking(s.cout, s.groups, s.cinPerGroup, s.outW, s.kh * s.kw);
  const list: Conv2dVariant[] = [...(s.groups === 1 ? ['tiled' as const] : []), base];
  for (const CO of [16, 8, 4] as const) {
    for (const PX of [8, 4] as const) {
      if ((s.cout / s.groups) % CO === 0 && !(CO === base.CO && PX === base.PX)) list.push({ CO, PX, VEC });
    }
  }
  return list;
}

/**
 * Autotunes conv2d on stride-1, same-padded shapes (one image of pixels / outW rows; random data, a few timed
 * runs per candidate) and caches the winner per adapter and shape class, which `conv2d` then follows.
 */
export async function tuneConv2d(device: FlapDevice, shapes: readonly Conv2dShape[], reps = 3): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  for (const s of shapes) {
    if (s.stride !== 1 || s.pixels % s.outW !== 0) throw new ShapeError(`tuneConv2d: shapes are stride 1 with whole rows (got ${conv2dShapeClass(s)})`);
    const cin = s.cinPerGroup * s.groups;
    const x = device.tensor([1, s.pixels / s.outW, s.outW, cin], 'f32', tuningData(s.pixels * cin));
    const raw = device.tensor([s.cout, s.cinPerGroup, s.kh, s.kw], 'f32', tuningData(s.cout * s.cinPerGroup * s.kh * s.kw));
    const w = prepareConvWeight(raw);
    try {
      const padding: [number, number, number, number] = [(s.kh - 1) >> 1, (s.kw - 1) >> 1, s.kh >> 1, s.kw >> 1];
      const candidates = conv2dCandidates(s).map((v) => ({
        name: conv2dChoiceName(v),
        run: () => conv2d(x, w, undefined, { padding, groups: s.groups, variant: v }).release(),
      }));
      results.push(await autotune(device, 'conv2d', conv2dShapeClass(s), candidates, { reps }));
    } finally {
      for (const t of [x, raw, w.weight]) t.release();
    }
  }
  return results;
}

/** conv1d on x [N, L, Cin] with a weight prepared from [Cout, Cin/g, K]: a conv2d over a height of 1. */
export function conv1d(x: Tensor, w: ConvWeight, bias?: Tensor, options: { stride?: number; padding?: number | readonly [number, number]; groups?: number; activation?: Activation } = {}): Tensor {
  if (x.rank !== 3) throw new ShapeError(`conv1d: input must be [N, L, Cin] (got [${x.shape.join(', ')}])`);
  const [n, l, c] = x.shape as [number, number, number];
  const p = options.padding ?? 0;
  const [pl, pr] = typeof p === 'number' ? [p, p] : [p[0], p[1]];
  const image = x.reshape([n, 1, l, c]);
  const y = conv2d(image, w, bias, {
    stride: [1, options.stride ?? 1],
    padding: [0, pl, 0, pr],
    groups: options.groups,
    activation: options.activation,
  });
  const out = y.reshape([n, y.shape[2]!, y.shape[3]!]);
  image.release();
  y.release();
  return out;
}
