import source from '../../../shaders/math/matmul.wgsl?raw';
import { LimitExceededError, ShapeError } from '../../errors';
import type { DeviceInfo, FlapDevice } from '../../runtime/device';
import { defineKernel, read, write } from '../../runtime/kernel';
import type { Tensor } from '../../runtime/tensor';
import { uniformSchema } from '../../runtime/uniforms';
import type { Activation } from '../activation';
import { autotune, tunedChoice, tuningData, type TuneResult } from '../tune';
import { broadcastShapes } from './binary';

/**
 * Batched matrix product with a fused epilogue: act(A @ B + bias) + residual. See shaders/math/matmul.wgsl
 * for the three variants (`blocked` for CPU adapters, `tiled` with shared memory for GPUs, `splitk` for
 * small M or long K).
 */
export type MatmulVariant = 'blocked' | 'tiled' | 'splitk';
export type MatmulBlock = '1x4' | '4x4' | '4x8' | '8x8' | '16x8' | '16x16';

export type MatmulSpec = {
  readonly VARIANT: MatmulVariant;
  /** Outputs per thread of `blocked` (rows x columns); '4x4' for the other variants. */
  readonly BLOCK: MatmulBlock;
  /** 4x4 fragments per thread along rows and columns: BLOCK's, from `blockFragments`. */
  readonly FR: number;
  readonly FC: number;
  readonly TRANS_A: boolean;
  readonly TRANS_B: boolean;
  /** A's contiguous dimension (K, or M when transposed) is a multiple of 4: vec4 loads. */
  readonly VEC_A: boolean;
  /** B's contiguous dimension (N, or K when transposed) is a multiple of 4. */
  readonly VEC_B: boolean;
  /** N is a multiple of 4: vec4 bias, residual and output. */
  readonly VEC_OUT: boolean;
  readonly B_F16: boolean;
  readonly BIAS: boolean;
  readonly RES: boolean;
  readonly ACT: Activation;
  /** Threads per output block of `splitk` (a power of two); 1 for the other variants. */
  readonly WG: number;
  /** `splitk` reduces with subgroupAdd first. */
  readonly SUBGROUPS: boolean;
};

export const matmulUniforms = uniformSchema({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  /** Output batch dimensions (right-aligned, padded with 1), and element strides of A's and B's matrices. */
  batch: 'vec4<u32>',
  a_batch_stride: 'vec4<u32>',
  b_batch_stride: 'vec4<u32>',
});

/** A and B, then the optional bias and residual, then the output; f16 B is bound as packed u32 words. */
export const matmulKernel = defineKernel({
  name: 'matmul',
  source,
  uniforms: matmulUniforms,
  bindings: (spec: MatmulSpec) => {
    const vec = (on: boolean) => (on ? 'vec4<f32>' : 'f32');
    const b = spec.B_F16 ? (spec.VEC_B ? 'vec2<u32>' : 'u32') : vec(spec.VEC_B);
    return [
      read('a', vec(spec.VEC_A)),
      read('b', b),
      ...(spec.BIAS ? [read('bias', vec(spec.VEC_OUT))] : []),
      ...(spec.RES ? [read('res', vec(spec.VEC_OUT))] : []),
      write('out', vec(spec.VEC_OUT)),
    ];
  },
});

/** A variant choice as tests and the tuner name it: `blocked4x8`, `tiled`, `splitk64`, `splitk64sg`. */
export interface MatmulChoice {
  variant: MatmulVariant;
  /** Threads per block for `splitk` (power of two, 1 to 256). */
  wg?: number;
  /** Outputs per thread for `blocked` (default 4x8). */
  block?: MatmulBlock;
  /** Use subgroupAdd in `splitk` (only where the device has `subgroups`). */
  subgroups?: boolean;
}

const DEFAULT_BLOCK: MatmulBlock = '4x8';

/** The 4x4 fragments of a block, rows and columns (1x4 counts as one: its thread holds a single row). */
export function blockFragments(block: MatmulBlock): { FR: number; FC: number } {
  const [rows, cols] = block.split('x').map(Number) as [number, number];
  return block === '1x4' ? { FR: 1, FC: 1 } : { FR: rows / 4, FC: cols / 4 };
}

export function choiceName(c: MatmulChoice): string {
  if (c.variant === 'splitk') return `splitk${c.wg ?? 64}${c.subgroups ? 'sg' : ''}`;
  return c.variant === 'blocked' ? `blocked${c.block ?? DEFAULT_BLOCK}` : c.variant;
}

export function parseChoice(name: string): MatmulChoice {
  const m = /^splitk(\d+)(sg)?$/.exec(name);
  if (m) return { variant: 'splitk', wg: Number(m[1]), subgroups: !!m[2] };
  const b = /^blocked(1x4|4x4|4x8|8x8|16x8|16x16)?$/.exec(name);
  if (b) return { variant: 'blocked', block: (b[1] as MatmulBlock | undefined) ?? DEFAULT_BLOCK };
  if (name === 'tiled') return { variant: name };
  throw new ShapeError(`unknown matmul variant ${name}`);
}

/** The problem as variant selection sees it. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  bF16: boolean;
}

/**
 * Shape classes for tuning: `gemv` (M <= 4), `longk` (few 4x4 output blocks and K >= 1024, where one
 * thread per block would leave the adapter idle), `gemm` otherwise; with the operand layout.
 */
export function matmulShapeClass(s: MatmulShape): string {
  const blocks = s.batch * Math.ceil(s.M / 4) * Math.ceil(s.N / 4);
  const kind = s.M <= 4 ? 'gemv' : blocks < 256 && s.K >= 1024 ? 'longk' : 'gemm';
  return `${kind}:${s.transA ? 't' : 'n'}${s.transB ? 't' : 'n'}:${s.bF16 ? 'f16' : 'f32'}`;
}

/**
 * The choice without tuning, from the adapter kind and the shape class. Measured on SwiftShader (2 cores):
 * workgroups with barriers and small workgroups are slow there, so `blocked` wins every class: 1x4 per
 * thread for one row (1x1280x320: 1.6 ms, 4x4 2.8 ms, the best splitk 6.4 ms), 4x4 for a few rows or long K,
 * and for a GEMM the largest block that still leaves about 128 threads. Kernel ms on the mini UNet's linears
 * (tests/ops/math/matmul_perf.mjs, MATMUL_SET=mini, machine alone, two interleaved repetitions): 16x16 against
 * 8x8 1280x96x96 13.8/12.2 vs 14.1/15.0, 320x160x160 7.9/7.8 vs 9.1/9.2, 320x1280x160 31/44 vs 46/55,
 * 320x160x640 25/26 vs 31/30, even on 1280x96x384; 8x8 over 4x8 from 128 threads (320x160x160 3.6 vs 3.0
 * GFLOP/s), 4x8 below (80x128x96: 2.2 vs 1.9). Real GPUs get shared-memory tiles, and K split over a
 * workgroup where there are few output blocks.
 */
export function defaultChoice(info: DeviceInfo, s: MatmulShape): MatmulChoice {
  const kind = matmulShapeClass(s).split(':')[0];
  if (info.isCpuBacked) {
    if (kind !== 'gemm') return { variant: 'blocked', block: s.M === 1 ? '1x4' : '4x4' };
    const threads = (rows: number, cols: number) => s.batch * Math.ceil(s.M / rows) * Math.ceil(s.N / cols);
    if (threads(16, 16) >= 128) return { variant: 'blocked', block: '16x16' };
    if (threads(16, 8) >= 128) return { variant: 'blocked', block: '16x8' };
    return { variant: 'blocked', block: threads(8, 8) >= 128 ? '8x8' : '4x8' };
  }
  if (kind !== 'gemm') return { variant: 'splitk', wg: 64, subgroups: info.features.subgroups };
  return { variant: 'tiled' };
}

export interface EpilogueFlags {
  bias: boolean;
  residual: boolean;
  activation: Activation;
}

/** The spec for a problem: the forced choice, else the tuned one for this adapter, else the default. */
export function selectVariant(info: DeviceInfo, s: MatmulShape, epilogue: EpilogueFlags, forced?: MatmulChoice): MatmulSpec {
  const tunedName = tunedChoice(info, 'matmul', matmulShapeClass(s));
  // A winner tuned with subgroups does not apply to a device of the same adapter opened without them.
  const tuned = tunedName ? parseChoice(tunedName) : undefined;
  const usable = tuned && !(tuned.subgroups && !info.features.subgroups) ? tuned : undefined;
  const c = forced ?? usable ?? defaultChoice(info, s);
  const wg = c.variant === 'splitk' ? (c.wg ?? 64) : 1;
  if (!Number.isInteger(Math.log2(wg)) || wg > 256) throw new ShapeError(`matmul: splitk workgroup size ${wg} is not a power of two <= 256`);
  const subgroups = c.variant === 'splitk' && !!c.subgroups;
  if (subgroups && !info.features.subgroups) throw new ShapeError('matmul: subgroups requested but the device has no subgroups feature');
  const block = c.variant === 'blocked' ? (c.block ?? DEFAULT_BLOCK) : '4x4';
  return {
    VARIANT: c.variant,
    BLOCK: block,
    ...blockFragments(block),
    TRANS_A: s.transA,
    TRANS_B: s.transB,
    VEC_A: (s.transA ? s.M : s.K) % 4 === 0,
    VEC_B: (s.transB ? s.K : s.N) % 4 === 0,
    VEC_OUT: s.N % 4 === 0,
    B_F16: s.bF16,
    BIAS: epilogue.bias,
    RES: epilogue.residual,
    ACT: epilogue.activation,
    WG: wg,
    SUBGROUPS: subgroups,
  };
}

export interface MatmulOptions {
  /** A is given as [..., K, M]. */
  transA?: boolean;
  /** B is given as [..., N, K] (PyTorch's linear weight layout). */
  transB?: boolean;
  /** f32 [N], added to every output row before the activation. */
  bias?: Tensor;
  activation?: Activation;
  /** f32 of the output's shape, added after the activation. */
  residual?: Tensor;
  /** Force a variant (tests, benchmarks); by default tuned or chosen from the adapter and shape. */
  variant?: MatmulChoice;
}

const MAX_BATCH_RANK = 4;

function shapeText(t: Tensor): string {
  return `[${t.shape.join(', ')}] ${t.dtype}`;
}

/** Element strides of each output batch dimension in an operand with batch shape `own` (0 where broadcast). */
function batchStrides(own: readonly number[], out: readonly number[], matrix: number): number[] {
  const strides = new Array<number>(MAX_BATCH_RANK).fill(0);
  let stride = matrix;
  // Dimensions left of the last four are 1 in the output (matmul checks), so they add no stride.
  for (let i = 1; i <= Math.min(own.length, MAX_BATCH_RANK); i++) {
    const d = own[own.length - i]!;
    strides[MAX_BATCH_RANK - i] = d === 1 && out[out.length - i] !== 1 ? 0 : stride;
    stride *= d;
  }
  return strides;
}

/**
 * act(A @ B + bias) + residual over broadcast batch dimensions. A: f32 [..., M, K] ([..., K, M] with
 * `transA`); B: f32 or f16 [..., K, N] ([..., N, K] with `transB`). Returns f32 [...batch, M, N].
 *
 * @example
 * const y = matmul(x, w, { transB: true, bias: b, activation: 'gelu' }); // x [L, C], w [4C, C] -> [L, 4C]
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, residual, activation = 'none' } = options;
  if (a.device !== b.device) throw new ShapeError('matmul: operands live on different devices');
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul: operands need rank >= 2 (got ${shapeText(a)} and ${shapeText(b)})`);
  if (a.dtype !== 'f32') throw new ShapeError(`matmul: A must be f32 (got ${shapeText(a)})`);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) {
    throw new ShapeError(`matmul: inner dimensions differ: A ${shapeText(a)}${transA ? ' (transposed)' : ''} has K=${K}, B ${shapeText(b)}${transB ? ' (transposed)' : ''} has K=${Kb}`);
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  let outBatch: number[];
  try {
    outBatch = broadcastShapes(aBatch, bBatch);
  } catch {
    throw new ShapeError(`matmul: batch dimensions of ${shapeText(a)} and ${shapeText(b)} do not broadcast`);
  }
  // Leading 1s cost nothing; only real batch dimensions count against the kernel's four.
  const firstReal = outBatch.findIndex((d) => d !== 1);
  const realRank = firstReal < 0 ? 0 : outBatch.length - firstReal;
  if (realRank > MAX_BATCH_RANK) throw new ShapeError(`matmul: more than ${MAX_BATCH_RANK} batch dimensions (${outBatch.join(', ')})`);
  const outShape = [...outBatch, M, N];
  if (bias && (bias.dtype !== 'f32' || bias.rank !== 1 || bias.shape[0] !== N)) {
    throw new ShapeError(`matmul: bias must be f32 [${N}] (got ${shapeText(bias)})`);
  }
  if (residual && (residual.dtype !== 'f32' || residual.rank !== outShape.length || residual.shape.some((d, i) => d !== outShape[i]))) {
    throw new ShapeError(`matmul: residual must be f32 [${outShape.join(', ')}] (got ${shapeText(residual)})`);
  }
  for (const t of [bias, residual]) if (t && t.device !== a.device) throw new ShapeError('matmul: epilogue tensors live on another device');

  const device: FlapDevice = a.device;
  const out = device.tensor(outShape, 'f32');
  const batch = outBatch.reduce((p, d) => p * d, 1);
  if (out.size === 0) return out;

  const shape: MatmulShape = { M, N, K, batch, transA, transB, bF16: b.dtype === 'f16' };
  const spec = selectVariant(device.info, shape, { bias: !!bias, residual: !!residual, activation }, options.variant);
  const groups = dispatchSize(spec, M, N, batch);
  const maxGroups = device.info.limits.maxComputeWorkgroupsPerDimension;
  if (groups.some((g) => g > maxGroups)) {
    throw new LimitExceededError(`matmul: ${choiceName({ variant: spec.VARIANT, wg: spec.WG })} needs [${groups.join(', ')}] workgroups (limit ${maxGroups} per dimension)`);
  }
  const padded = [...new Array<number>(MAX_BATCH_RANK).fill(1), ...outBatch].slice(-MAX_BATCH_RANK);
  const inputs = [a, b];
  if (bias) inputs.push(bias);
  if (residual) inputs.push(residual);
  device.run(matmulKernel, spec, {
    inputs,
    outputs: [out],
    uniforms: {
      M,
      N,
      K,
      batch: padded,
      a_batch_stride: batchStrides(aBatch, outBatch, M * K),
      b_batch_stride: batchStrides(bBatch, outBatch, K * N),
    },
    workgroups: groups,
  });
  return out;
}

/**
 * Compiles, asynchronously, the kernel `matmul` will pick for this shape and epilogue (call while weights
 * load, after any `tuneMatmul`), so the first real call does not stall on a synchronous compile.
 */
export async function prepareMatmul(device: FlapDevice, shape: MatmulShape, epilogue: EpilogueFlags, choice?: MatmulChoice): Promise<void> {
  await device.prepare(matmulKernel, selectVariant(device.info, shape, epilogue, choice));
}

/** Workgroups of a specialisation for an M x N output with `batch` matrices. */
export function dispatchSize(spec: MatmulSpec, M: number, N: number, batch: number): [number, number, number] {
  const bm = Math.ceil(M / 4);
  const bn = Math.ceil(N / 4);
  if (spec.VARIANT === 'blocked' && spec.BLOCK === '1x4') return [Math.ceil(bn / 64), M, batch];
  if (spec.VARIANT === 'blocked') return [Math.ceil(bn / (8 * spec.FC)), Math.ceil(bm / (8 * spec.FR)), batch];
  if (spec.VARIANT === 'tiled') return [Math.ceil(N / 64), Math.ceil(M / 64), batch];
  return [bn, bm, batch];
}

/**
 * x @ W^T + b over the last dimension of any-rank x: x f32 [..., in], weight f32 or f16 [out, in], bias f32
 * [out]; the residual (if any) has the output's shape [..., out].
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, options: Omit<MatmulOptions, 'transA' | 'transB' | 'bias'> = {}): Tensor {
  if (x.rank < 1 || weight.rank !== 2) throw new ShapeError(`linear: x ${shapeText(x)} needs rank >= 1 and weight ${shapeText(weight)} rank 2`);
  const [outF, inF] = weight.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.rank - 1] !== inF) throw new ShapeError(`linear: x ${shapeText(x)} does not end in ${inF} (weight ${shapeText(weight)})`);
  const rows = lead.reduce((p, d) => p * d, 1);
  const r = options.residual;
  if (r && (r.rank !== lead.length + 1 || r.shape.some((d, i) => d !== [...lead, outF][i]))) {
    throw new ShapeError(`linear: residual must be [${[...lead, outF].join(', ')}] (got ${shapeText(r)})`);
  }
  const x2 = x.reshape([rows, inF]);
  const res2 = r?.reshape([rows, outF]);
  try {
    const y = matmul(x2, weight, { ...options, transB: true, bias, residual: res2 });
    const shaped = y.reshape([...lead, outF]);
    y.release();
    return shaped;
  } finally {
    x2.release();
    res2?.release();
  }
}

/** The candidates the tuner tries on this adapter. */
export function tuneCandidates(info: DeviceInfo): MatmulChoice[] {
  const list: MatmulChoice[] = [
    { variant: 'blocked', block: '1x4' },
    { variant: 'blocked', block: '4x4' },
    { variant: 'blocked', block: '4x8' },
    { variant: 'blocked', block: '8x8' },
    { variant: 'blocked', block: '16x8' },
    { variant: 'blocked', block: '16x16' },
    { variant: 'tiled' },
    { variant: 'splitk', wg: 4 },
    { variant: 'splitk', wg: 16 },
    { variant: 'splitk', wg: 64 },
  ];
  if (info.features.subgroups) list.push({ variant: 'splitk', wg: 64, subgroups: true });
  return list;
}

/**
 * Autotunes matmul for each representative shape (random data, a few timed runs per candidate) and caches
 * the winner per adapter and shape class, so later `matmul` calls of that class use it. Call at model load
 * with the model's typical shapes.
 */
export async function tuneMatmul(device: FlapDevice, shapes: readonly MatmulShape[], reps = 3): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  for (const s of shapes) {
    const aShape = [s.batch, ...(s.transA ? [s.K, s.M] : [s.M, s.K])];
    const bShape = [...(s.transB ? [s.N, s.K] : [s.K, s.N])];
    const a = device.tensor(aShape, 'f32', tuningData(aShape.reduce((p, d) => p * d, 1)));
    const b = device.tensor(bShape, s.bF16 ? 'f16' : 'f32', tuningData(s.K * s.N));
    try {
      const candidates = tuneCandidates(device.info).map((c) => ({
        name: choiceName(c),
        run: () => matmul(a, b, { transA: s.transA, transB: s.transB, variant: c }).release(),
      }));
      results.push(await autotune(device, 'matmul', matmulShapeClass(s), candidates, { reps }));
    } finally {
      a.release();
      b.release();
    }
  }
  return results;
}
