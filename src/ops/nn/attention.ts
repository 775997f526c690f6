import source from '../../../shaders/nn/attention.wgsl?raw';
import { ShapeError } from '../../errors';
import type { DeviceInfo, FlapDevice } from '../../runtime/device';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import type { Tensor } from '../../runtime/tensor';
import { uniformSchema } from '../../runtime/uniforms';
import { autotune, tunedChoice, tuningData, type TuneResult } from '../tune';

/**
 * Multi-head attention softmax(Q K^T * scale) V in the online-softmax ("flash") form: the Lq x Lk score
 * matrix never exists in GPU memory. See shaders/nn/attention.wgsl for the three variants.
 *
 * Stride convention. Every operand (Q, K, V, the optional second K/V source, and the output) is read through
 * four element strides `[batch0, batch1, seq, head]` and an element offset: element c (0 <= c < headDim) of
 * head h of sequence position i in batch (b0, b1) is at `offset + b0*s[0] + b1*s[1] + i*s[2] + h*s[3] + c`
 * of its tensor. The batch is
 * two-dimensional (B0 x B1) so that attention across frames at every pixel of an NHWC video needs no permute:
 *
 * - tokens `[B, L, heads*d]` (the default): B0 = B, B1 = 1, strides `[L*heads*d, 0, heads*d, d]`;
 * - temporal, video `[B*F, H, W, C]` with C = heads*d, attending over the F frames at each pixel:
 *   B0 = B, B1 = H*W, strides `[F*H*W*C, C, H*W*C, d]`, and the output has the video's layout (see
 *   `temporalAttention`);
 * - a fused QKV projection `[B, L, 3*C]`: strides `[L*3C, 0, 3C, d]` for all three, offsets 0, C and 2C.
 */
export type AttentionVariant = 'rows' | 'tiled' | 'subgroup';

export type AttentionSpec = {
  readonly VARIANT: AttentionVariant;
  /** Head dimension (register arrays are sized by it). */
  readonly D: number;
  /** ceil(D / 4): vec4 chunks per head. */
  readonly DV: number;
  /** Keys per workgroup-memory tile (`tiled`; a multiple of 4), 4 otherwise. */
  readonly BK: number;
  /** Threads per workgroup: rows per workgroup (`rows`, `tiled`) or lanes per row (`subgroup`, see `subgroupLanes`). */
  readonly WG: number;
  /** A second key/value source follows the first (attention to their concatenation). */
  readonly CONCAT: boolean;
  /** D, all strides and all offsets are multiples of 4: operands are bound as vec4 arrays. */
  readonly VEC: boolean;
  /** Query rows per thread (`rows`: see `rowsPerThread`; the other variants 1). */
  readonly RQ: number;
  /** Loops over the DV chunks are unrolled (VEC and DV <= MAX_UNROLL_DV), else plain loops. */
  readonly UNROLL_DV: boolean;
};

export const attentionUniforms = uniformSchema({
  /** B0 * B1 * heads * Lq. */
  rows: 'u32',
  scale: 'f32',
  /** L1, L2: key lengths of the two sources (L2 = 0 without CONCAT). */
  lens: 'vec2<u32>',
  /** B0, B1, heads, Lq. */
  dims: 'vec4<u32>',
  q_strides: 'vec4<u32>',
  k1_strides: 'vec4<u32>',
  v1_strides: 'vec4<u32>',
  k2_strides: 'vec4<u32>',
  v2_strides: 'vec4<u32>',
  o_strides: 'vec4<u32>',
  /** Element offsets: [q, k1, v1, out], [k2, v2, 0, 0]. */
  offsets: 'array<vec4<u32>, 2>',
});

/**
 * Chunks of a head are unrolled only up to MAX_UNROLL_DV with vec4 loads (rows always are): SwiftShader
 * compiles the unrolled d = 64 kernel in ~3 s (~7 s with scalar loads) against ~0.1 s looped, for about 2x at
 * run time.
 */
const MAX_UNROLL_DV = 10;

/** Q, K1, V1, then K2 and V2 with CONCAT, then the output; vec4 arrays with VEC. */
export const attentionKernel = defineKernel({
  name: 'attention',
  source,
  uniforms: attentionUniforms,
  bindings: (spec: AttentionSpec) => {
    const t = spec.VEC ? 'vec4<f32>' : 'f32';
    const keys = spec.CONCAT ? ['k1', 'v1', 'k2', 'v2'] : ['k1', 'v1'];
    return [read('q', t), ...keys.map((name) => read(name, t)), write('out', t)];
  },
});

/** Up to the SD VAE mid-block's single 512-wide head. */
export const MAX_HEAD_DIM = 512;
/** Workgroup memory the `tiled` variant uses at most (K and V tiles), within WebGPU's default 16 KiB. */
const TILE_BYTES = 16384;
const ROWS_WG = 64;
const TILED_WG = 64;

/**
 * Lanes per row of the `subgroup` variant: a power of two no smaller than the adapter's largest subgroup (so a
 * workgroup fills at least one whole subgroup as reported) and at least 32 (enough lanes to split a long row's
 * keys), at most 128 and the device's invocation limit. Correctness does not depend on it: the kernel merges
 * across however many subgroups of whatever width the hardware actually runs.
 */
export function subgroupLanes(info: DeviceInfo): number {
  const widest = Math.max(32, info.subgroupMaxSize ?? info.subgroupMinSize ?? 32);
  const lanes = 2 ** Math.ceil(Math.log2(Math.min(128, widest)));
  return Math.min(lanes, info.limits.maxComputeInvocationsPerWorkgroup);
}

/** Keys per tile of `tiled` for head dim `d`: both tiles fit TILE_BYTES; a multiple of 4, at most 64. */
export function tileKeys(d: number): number {
  const dv = Math.ceil(d / 4);
  return Math.max(4, Math.min(64, Math.floor(TILE_BYTES / (2 * 16 * dv) / 4) * 4));
}

/**
 * Rows per thread of `rows`: each key chunk loaded serves them all. Measured on SwiftShader (Node, 2 busy
 * cores; tests/ops/nn/attention_perf.mjs), against 0.2-0.3 GFLOP/s at one row per thread: d 8 with 16 rows
 * 2-4 GFLOP/s, d 40 with 4 rows 1.5-2.6, d 64 with 4 rows 1.4-2.7, d 80 and 160 with 2 rows 0.5-0.9.
 */
export function rowsPerThread(d: number): number {
  return d <= 8 ? 16 : d <= 16 ? 8 : d <= 64 ? 4 : 2;
}

export interface AttentionProblem {
  headDim: number;
  /** Query rows over all batches and heads. */
  rows: number;
  lq: number;
  lk: number;
  concat: boolean;
  /** D, every stride and every offset are multiples of 4. */
  aligned: boolean;
}

/** Tuning class of a problem: head width exactly, key length and query rows by power of two. */
export function attentionShapeClass(p: Pick<AttentionProblem, 'headDim' | 'rows' | 'lk'>): string {
  const log2 = (n: number) => Math.round(Math.log2(Math.max(1, n)));
  return `d${p.headDim}/lk2^${log2(p.lk)}/rows2^${log2(p.rows)}`;
}

export function selectVariant(info: DeviceInfo, p: AttentionProblem, forced?: AttentionVariant): AttentionSpec {
  let variant: AttentionVariant;
  const tuned = forced ? undefined : tunedChoice(info, 'attention', attentionShapeClass(p));
  if (forced) {
    variant = forced;
  } else if (tuned === 'rows' || tuned === 'tiled' || (tuned === 'subgroup' && info.features.subgroups)) {
    variant = tuned;
  } else if (info.isCpuBacked) {
    variant = 'rows';
  } else if (info.features.subgroups && p.rows < 4096 && p.lk >= 64) {
    // Few rows: one thread per row would leave most of the GPU idle; split each row's keys across lanes.
    variant = 'subgroup';
  } else {
    variant = 'tiled';
  }
  if (variant === 'subgroup' && !info.features.subgroups) {
    throw new ShapeError('attention: the subgroup variant needs the subgroups feature, which this device lacks');
  }
  const D = p.headDim;
  return {
    VARIANT: variant,
    D,
    DV: Math.ceil(D / 4),
    BK: variant === 'tiled' ? tileKeys(D) : 4,
    WG: variant === 'rows' ? ROWS_WG : variant === 'tiled' ? TILED_WG : subgroupLanes(info),
    CONCAT: p.concat,
    VEC: p.aligned,
    RQ: variant === 'rows' ? rowsPerThread(D) : 1,
    UNROLL_DV: p.aligned && Math.ceil(D / 4) <= MAX_UNROLL_DV,
  };
}

/**
 * Compiles the kernel `attentionStrided` would pick for `p` ahead of use (while weights load): SwiftShader
 * takes up to ~2 s per specialisation. `p.aligned`: D, all strides and offsets are multiples of 4.
 */
export async function prepareAttention(device: FlapDevice, p: AttentionProblem, variant?: AttentionVariant): Promise<void> {
  const spec = selectVariant(device.info, p, variant);
  await device.prepare(attentionKernel, spec);
}

/** One attention shape to tune: `batch` items of `heads` heads, lq queries over lk keys of width headDim. */
export interface AttentionTuneShape {
  batch: number;
  heads: number;
  headDim: number;
  lq: number;
  lk: number;
}

/**
 * Autotunes attention (random data, a few timed runs of each variant the adapter has) and caches the winner per
 * adapter and shape class, which every attention call of that class then follows.
 */
export async function tuneAttention(device: FlapDevice, shapes: readonly AttentionTuneShape[], reps = 3): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  const variants: AttentionVariant[] = ['rows', 'tiled', ...(device.info.features.subgroups ? (['subgroup'] as const) : [])];
  for (const s of shapes) {
    const c = s.heads * s.headDim;
    const q = device.tensor([s.batch, s.lq, c], 'f32', tuningData(s.batch * s.lq * c));
    const kv = device.tensor([s.batch, s.lk, c], 'f32', tuningData(s.batch * s.lk * c));
    try {
      const candidates = variants.map((variant) => ({ name: variant, run: () => attention(q, kv, kv, { heads: s.heads, variant }).release() }));
      results.push(await autotune(device, 'attention', attentionShapeClass({ headDim: s.headDim, rows: s.batch * s.heads * s.lq, lk: s.lk }), candidates, { reps }));
    } finally {
      q.release();
      kv.release();
    }
  }
  return results;
}

/** Element strides `[batch0, batch1, seq, head]` of one operand; see the stride convention above. */
export type Strides = readonly [number, number, number, number];

/** One operand of `attentionStrided`: a tensor read through strides. */
export interface AttentionOperand {
  tensor: Tensor;
  strides: Strides;
  /** Element offset of (b0, b1, i, h, c) = 0 (default 0): e.g. K at +C inside a fused QKV tensor `[B, L, 3C]`. */
  offset?: number;
}

export interface StridedAttention {
  q: AttentionOperand;
  k: AttentionOperand;
  v: AttentionOperand;
  /** Optional second key/value source, attended together with the first as if concatenated after it. */
  k2?: AttentionOperand;
  v2?: AttentionOperand;
  /** Shape of the output tensor to allocate, and the strides (and offset) the kernel writes it with. */
  out: { shape: readonly number[]; strides: Strides; offset?: number };
  /** [B0, B1]. */
  batch: readonly [number, number];
  heads: number;
  headDim: number;
  lq: number;
  lk: number;
  lk2?: number;
  /** Defaults to 1/sqrt(headDim). */
  scale?: number;
  variant?: AttentionVariant;
  /** Force scalar loads even where vec4 would do (tests). */
  scalar?: boolean;
}

/** The largest element index an operand is read at, plus one. */
function extent(s: Strides, offset: number, batch: readonly [number, number], len: number, heads: number, d: number): number {
  if (len === 0 || batch[0] === 0 || batch[1] === 0) return 0;
  return offset + (batch[0] - 1) * s[0] + (batch[1] - 1) * s[1] + (len - 1) * s[2] + (heads - 1) * s[3] + d;
}

function checkLayout(label: string, s: Strides, offset: number): void {
  for (const v of [...s, offset]) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ShapeError(`attention: ${label} strides [${s.join(', ')}] / offset ${offset} must be non-negative integers`);
  }
}

/** The general form: every operand through explicit strides. Returns the new output tensor. */
export function attentionStrided(a: StridedAttention): Tensor {
  const { q, k, v, k2, v2, batch, heads, headDim: d, lq, lk } = a;
  const concat = !!(k2 || v2);
  const lk2 = concat ? a.lk2 ?? 0 : 0;
  const device = q.tensor.device;
  const name = 'attention';
  if (!!k2 !== !!v2) throw new ShapeError(`${name}: k2 and v2 come together`);
  if (!Number.isInteger(d) || d < 1 || d > MAX_HEAD_DIM) throw new ShapeError(`${name}: head dim ${d} is outside 1..${MAX_HEAD_DIM}`);
  if (lk + lk2 === 0) throw new ShapeError(`${name}: no keys (softmax over an empty set)`);
  if (concat && (lk === 0 || lk2 === 0)) throw new ShapeError(`${name}: with two key sources both need keys (got ${lk} and ${lk2})`);
  const operands: [string, AttentionOperand | undefined, number][] = [
    ['q', q, lq],
    ['k', k, lk],
    ['v', v, lk],
    ['k2', k2, lk2],
    ['v2', v2, lk2],
  ];
  for (const [label, op, len] of operands) {
    if (!op) continue;
    if (op.tensor.device !== device) throw new ShapeError(`${name}: ${label} lives on another device`);
    if (op.tensor.dtype !== 'f32') throw new ShapeError(`${name}: ${label} must be f32 (got ${op.tensor.dtype})`);
    checkLayout(label, op.strides, op.offset ?? 0);
    const need = extent(op.strides, op.offset ?? 0, batch, len, heads, d);
    if (need > op.tensor.size) {
      throw new ShapeError(`${name}: ${label} [${op.tensor.shape.join(', ')}] is too small for strides [${op.strides.join(', ')}] (needs ${need} elements)`);
    }
  }
  checkLayout('out', a.out.strides, a.out.offset ?? 0);
  const out = device.tensor(a.out.shape, 'f32');
  const needOut = extent(a.out.strides, a.out.offset ?? 0, batch, lq, heads, d);
  if (needOut > out.size) {
    out.release();
    throw new ShapeError(`${name}: output [${a.out.shape.join(', ')}] is too small for strides [${a.out.strides.join(', ')}]`);
  }
  const rows = batch[0] * batch[1] * heads * lq;
  if (rows === 0) return out;
  const layouts = [q, k, v, k2, v2, a.out].flatMap((x) => (x ? [{ strides: x.strides, offset: x.offset ?? 0 }] : []));
  const aligned = !a.scalar && d % 4 === 0 && layouts.every((x) => x.offset % 4 === 0 && x.strides.every((s) => s % 4 === 0));
  const spec = selectVariant(device.info, { headDim: d, rows, lq, lk: lk + lk2, concat, aligned }, a.variant);
  const maxGroups = device.info.limits.maxComputeWorkgroupsPerDimension;
  let workgroups: [number, number, number];
  if (spec.VARIANT === 'rows') workgroups = flatDispatch(Math.ceil(lq / spec.RQ) * (rows / lq), spec.WG, maxGroups);
  else if (spec.VARIANT === 'subgroup') workgroups = flatDispatch(rows, 1, maxGroups);
  else workgroups = flatDispatch(Math.ceil(lq / spec.WG) * (rows / lq), 1, maxGroups);
  const zero: Strides = [0, 0, 0, 0];
  device.run(attentionKernel, spec, {
    inputs: concat ? [q.tensor, k.tensor, v.tensor, k2!.tensor, v2!.tensor] : [q.tensor, k.tensor, v.tensor],
    outputs: [out],
    uniforms: {
      rows,
      scale: a.scale ?? 1 / Math.sqrt(d),
      lens: [lk, lk2],
      dims: [batch[0], batch[1], heads, lq],
      q_strides: q.strides,
      k1_strides: k.strides,
      v1_strides: v.strides,
      k2_strides: k2?.strides ?? zero,
      v2_strides: v2?.strides ?? zero,
      o_strides: a.out.strides,
      offsets: [q.offset ?? 0, k.offset ?? 0, v.offset ?? 0, a.out.offset ?? 0, k2?.offset ?? 0, v2?.offset ?? 0, 0, 0],
    },
    workgroups,
  });
  return out;
}

export interface AttentionOptions {
  heads: number;
  /** Defaults to 1/sqrt(head dim). */
  scale?: number;
  /** A second key/value source `[B, L2, heads*d]`, attended as if concatenated after `k`/`v` along L. */
  k2?: Tensor;
  v2?: Tensor;
  /** Force a variant (tests, tuning). */
  variant?: AttentionVariant;
  /** Force scalar loads even where vec4 would do (tests). */
  scalar?: boolean;
}

function tokens(t: Tensor, label: string): [number, number, number] {
  if (t.rank !== 3) throw new ShapeError(`attention: ${label} must be [B, L, heads*d], got [${t.shape.join(', ')}]`);
  return t.shape as unknown as [number, number, number];
}

/**
 * Attention on token tensors: Q `[B, Lq, heads*d]`, K/V `[B, Lk, heads*d]` → `[B, Lq, heads*d]`. Query and
 * key lengths are independent (self- and cross-attention); heads are split and merged by the strides.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor {
  const { heads } = options;
  const [B, lq, C] = tokens(q, 'q');
  const [Bk, lk, Ck] = tokens(k, 'k');
  const [Bv, lv, Cv] = tokens(v, 'v');
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) throw new ShapeError(`attention: ${C} channels do not split into ${heads} heads`);
  if (Bk !== B || Bv !== B || Ck !== C || Cv !== C || lv !== lk) {
    throw new ShapeError(`attention: q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}] do not match`);
  }
  const d = C / heads;
  const flat = (L: number): Strides => [L * C, 0, C, d];
  let lk2 = 0;
  if (options.k2 || options.v2) {
    if (!options.k2 || !options.v2) throw new ShapeError('attention: k2 and v2 come together');
    const [B2, l2, C2] = tokens(options.k2, 'k2');
    if (B2 !== B || C2 !== C || options.v2.shape.join() !== options.k2.shape.join()) {
      throw new ShapeError(`attention: k2 [${options.k2.shape.join(', ')}] / v2 [${options.v2.shape.join(', ')}] do not match q [${q.shape.join(', ')}]`);
    }
    lk2 = l2;
  }
  return attentionStrided({
    q: { tensor: q, strides: flat(lq) },
    k: { tensor: k, strides: flat(lk) },
    v: { tensor: v, strides: flat(lk) },
    k2: options.k2 && { tensor: options.k2, strides: flat(lk2) },
    v2: options.v2 && { tensor: options.v2, strides: flat(lk2) },
    out: { shape: [B, lq, C], strides: flat(lq) },
    batch: [B, 1],
    heads,
    headDim: d,
    lq,
    lk,
    lk2,
    scale: options.scale,
    variant: options.variant,
    scalar: options.scalar,
  });
}

/**
 * Self-attention across frames at every pixel of an NHWC video `[B*F, H, W, C]` (C = heads*d): for each
 * (clip, pixel) the F frames attend to each other. q/k/v are the projected video tensors; the output has the
 * same NHWC layout. No permute to `[B*H*W, F, C]` is needed.
 */
export function temporalAttention(q: Tensor, k: Tensor, v: Tensor, frames: number, options: Omit<AttentionOptions, 'k2' | 'v2'>): Tensor {
  if (q.rank !== 4) throw new ShapeError(`temporalAttention: q must be [B*F, H, W, C], got [${q.shape.join(', ')}]`);
  const [BF, H, W, C] = q.shape as unknown as [number, number, number, number];
  for (const [label, t] of [['k', k], ['v', v]] as const) {
    if (t.shape.join() !== q.shape.join()) throw new ShapeError(`temporalAttention: ${label} [${t.shape.join(', ')}] differs from q [${q.shape.join(', ')}]`);
  }
  if (!Number.isInteger(frames) || frames < 1 || BF % frames !== 0) throw new ShapeError(`temporalAttention: ${BF} images are not clips of ${frames} frames`);
  const { heads } = options;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) throw new ShapeError(`temporalAttention: ${C} channels do not split into ${heads} heads`);
  const d = C / heads;
  const HW = H * W;
  const s: Strides = [frames * HW * C, C, HW * C, d];
  return attentionStrided({
    q: { tensor: q, strides: s },
    k: { tensor: k, strides: s },
    v: { tensor: v, strides: s },
    out: { shape: q.shape, strides: s },
    batch: [BF / frames, HW],
    heads,
    headDim: d,
    lq: frames,
    lk: frames,
    scale: options.scale,
    variant: options.variant,
  });
}
