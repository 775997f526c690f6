import { ShapeError } from '../../../src/errors';
import {
  attention,
  attentionStrided,
  prepareAttention,
  selectVariant,
  temporalAttention,
  type AttentionVariant,
  type Strides,
} from '../../../src/ops/nn/attention';
import type { FlapDevice } from '../../../src/runtime/device';
import { assert, assertClose, assertEqual, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

/** One strided operand on the CPU (see the stride convention in src/ops/nn/attention.ts). */
interface HostOperand {
  data: Float32Array;
  s: Strides;
}

/**
 * float64 reference: out[b0,b1,h,i] = sum_j softmax_j(q·k_j * scale) v_j over the keys of src 1 then src 2,
 * with the plain (two-pass, max-subtracted) softmax rather than the online form the kernels use.
 */
function reference(
  q: HostOperand,
  srcs: { k: HostOperand; v: HostOperand; len: number }[],
  out: { size: number; s: Strides },
  batch: [number, number],
  heads: number,
  d: number,
  lq: number,
  scale: number,
): Float64Array {
  const o = new Float64Array(out.size);
  const at = (s: Strides, b0: number, b1: number, i: number, h: number) => b0 * s[0] + b1 * s[1] + i * s[2] + h * s[3];
  const lk = srcs.reduce((n, s) => n + s.len, 0);
  const scores = new Float64Array(lk);
  const acc = new Float64Array(d);
  for (let b0 = 0; b0 < batch[0]; b0++) {
    for (let b1 = 0; b1 < batch[1]; b1++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < lq; i++) {
          const qo = at(q.s, b0, b1, i, h);
          let max = -Infinity;
          let n = 0;
          for (const { k, len } of srcs) {
            for (let j = 0; j < len; j++) {
              const ko = at(k.s, b0, b1, j, h);
              let s = 0;
              for (let c = 0; c < d; c++) s += q.data[qo + c]! * k.data[ko + c]!;
              scores[n] = s * scale;
              max = Math.max(max, scores[n]!);
              n++;
            }
          }
          let sum = 0;
          for (let j = 0; j < lk; j++) sum += (scores[j] = Math.exp(scores[j]! - max));
          acc.fill(0);
          n = 0;
          for (const { v, len } of srcs) {
            for (let j = 0; j < len; j++) {
              const vo = at(v.s, b0, b1, j, h);
              const p = scores[n++]! / sum;
              for (let c = 0; c < d; c++) acc[c] += p * v.data[vo + c]!;
            }
          }
          const oo = at(out.s, b0, b1, i, h);
          for (let c = 0; c < d; c++) o[oo + c] = acc[c]!;
        }
      }
    }
  }
  return o;
}

export interface TokenProblem {
  B: number;
  heads: number;
  d: number;
  lq: number;
  lk: number;
  /** Length of a second key/value source (0: none). */
  lk2?: number;
}

/** Random inputs whose scores spread over a few units, so the softmax is neither flat nor one-hot. */
function tokenInputs(p: TokenProblem, seed: number) {
  const r = rng(seed);
  const C = p.heads * p.d;
  const amp = 2 / Math.pow(p.d, 0.25);
  const mk = (n: number, a: number) => randomArray(n, r).map((x) => x * a);
  return {
    q: mk(p.B * p.lq * C, amp),
    k: mk(p.B * p.lk * C, amp),
    v: mk(p.B * p.lk * C, 1),
    k2: p.lk2 ? mk(p.B * p.lk2 * C, amp) : undefined,
    v2: p.lk2 ? mk(p.B * p.lk2 * C, 1) : undefined,
  };
}

function tokenReference(p: TokenProblem, x: ReturnType<typeof tokenInputs>): Float64Array {
  const C = p.heads * p.d;
  const flat = (L: number): Strides => [L * C, 0, C, p.d];
  const srcs = [{ k: { data: x.k, s: flat(p.lk) }, v: { data: x.v, s: flat(p.lk) }, len: p.lk }];
  if (p.lk2) srcs.push({ k: { data: x.k2!, s: flat(p.lk2) }, v: { data: x.v2!, s: flat(p.lk2) }, len: p.lk2 });
  return reference({ data: x.q, s: flat(p.lq) }, srcs, { size: p.B * p.lq * C, s: flat(p.lq) }, [p.B, 1], p.heads, p.d, p.lq, 1 / Math.sqrt(p.d));
}

// f32 accumulation over at most a few hundred keys of O(1) values: errors stay around 1e-6.
const TOL = { atol: 2e-5, rtol: 2e-4 };

export async function checkTokens(device: FlapDevice, p: TokenProblem, seed: number, variant?: AttentionVariant, label = '', scalar = false): Promise<number> {
  const x = tokenInputs(p, seed);
  const C = p.heads * p.d;
  const q = device.tensor([p.B, p.lq, C], 'f32', x.q);
  const k = device.tensor([p.B, p.lk, C], 'f32', x.k);
  const v = device.tensor([p.B, p.lk, C], 'f32', x.v);
  const k2 = x.k2 && device.tensor([p.B, p.lk2!, C], 'f32', x.k2);
  const v2 = x.v2 && device.tensor([p.B, p.lk2!, C], 'f32', x.v2);
  const o = attention(q, k, v, { heads: p.heads, k2, v2, variant, scalar });
  const got = await o.read();
  for (const t of [q, k, v, k2, v2, o]) t?.release();
  const r = assertClose(got, tokenReference(p, x), { ...TOL, label: `${label} ${JSON.stringify(p)} ${variant ?? 'default'}${scalar ? ' scalar' : ''}` });
  return r.maxAbsError;
}

const SIZES = [1, 2, 3, 7, 16, 17, 63, 64, 65, 200];
const DIMS = [8, 12, 16, 40, 64, 80, 160];

/** ≥ 20 random problems; the work per problem is capped so the file stays fast on SwiftShader. */
function randomProblems(seed: number, count: number, dims: readonly number[] = DIMS): TokenProblem[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const out: TokenProblem[] = [];
  while (out.length < count) {
    const p: TokenProblem = { B: pick([1, 2, 3]), heads: pick([1, 2, 3, 7]), d: pick(dims), lq: pick(SIZES), lk: pick(SIZES) };
    if (p.B * p.heads * p.lq * p.lk * p.d > 400_000) continue;
    out.push(p);
  }
  return out;
}

function variantsOf(device: FlapDevice): AttentionVariant[] {
  return device.info.features.subgroups ? ['rows', 'tiled', 'subgroup'] : ['rows', 'tiled'];
}

/**
 * The barrier and subgroup variants take about a second to compile per specialisation on SwiftShader, so their
 * sweeps draw from fewer head dims (each still vec4 and scalar); the edge-size case covers 5, 80 and 160.
 */
const FEW_DIMS = [8, 12, 40];

async function randomSweep(device: FlapDevice, variant: AttentionVariant | undefined, seed: number, log: (s: string) => void, dims = DIMS) {
  let worst = 0;
  const problems = randomProblems(seed, 22, dims);
  // Every other problem forces scalar loads, so both the vec4 and the scalar bindings are exercised.
  for (const [n, p] of problems.entries()) worst = Math.max(worst, await checkTokens(device, p, seed * 100 + n, variant, '', n % 2 === 1));
  log(`${variant ?? 'default'}: ${problems.length} random problems (half with scalar loads), max |err| ${worst.toExponential(2)}`);
}

export const cases: Cases = {
  'default variant over 22 random shapes (d 8..160, lengths 1..200)': async ({ device, log }) => {
    await randomSweep(device, undefined, 1, log);
  },

  'rows variant forced, 22 random shapes': async ({ device, log }) => {
    await randomSweep(device, 'rows', 2, log);
  },

  'tiled variant forced, 22 random shapes': async ({ device, log }) => {
    await randomSweep(device, 'tiled', 3, log, FEW_DIMS);
  },

  'subgroup variant forced, 22 random shapes (or refused without subgroups)': async ({ device, log }) => {
    if (!device.info.features.subgroups) {
      const q = device.tensor([1, 4, 8], 'f32');
      await assertThrows(() => attention(q, q, q, { heads: 1, variant: 'subgroup' }), ShapeError, /subgroups/);
      q.release();
      log('no subgroups: the subgroup variant is refused');
      return;
    }
    log(`subgroup sizes ${device.info.subgroupMinSize}..${device.info.subgroupMaxSize}`);
    await randomSweep(device, 'subgroup', 4, log, FEW_DIMS);
  },

  'edge sizes: head dims not multiples of 4 or 16, key lengths 1 and 65, one query': async ({ device }) => {
    for (const variant of variantsOf(device)) {
      await checkTokens(device, { B: 1, heads: 2, d: 12, lq: 1, lk: 65 }, 10, variant);
      await checkTokens(device, { B: 2, heads: 1, d: 5, lq: 17, lk: 1 }, 11, variant);
      await checkTokens(device, { B: 1, heads: 3, d: 40, lq: 7, lk: 63 }, 12, variant);
      await checkTokens(device, { B: 1, heads: 1, d: 160, lq: 65, lk: 17 }, 13, variant);
      await checkTokens(device, { B: 1, heads: 2, d: 80, lq: 3, lk: 200 }, 14, variant);
    }
  },

  'head widths up to 512 (the SD VAE mid-block has one 512-wide head), odd ones too; 513 is refused': async ({ device }) => {
    for (const variant of variantsOf(device)) {
      await checkTokens(device, { B: 1, heads: 1, d: 512, lq: 33, lk: 17 }, 15, variant);
      await checkTokens(device, { B: 2, heads: 1, d: 301, lq: 5, lk: 40 }, 16, variant);
    }
    const t = device.tensor([1, 2, 513], 'f32');
    await assertThrows(() => attention(t, t, t, { heads: 1 }), ShapeError, /head dim 513 is outside 1\.\.512/);
    t.release();
  },

  'cross-attention to 1 and 16 keys': async ({ device }) => {
    for (const variant of variantsOf(device)) {
      await checkTokens(device, { B: 2, heads: 2, d: 16, lq: 65, lk: 1 }, 20, variant);
      await checkTokens(device, { B: 2, heads: 8, d: 8, lq: 63, lk: 16 }, 21, variant);
      await checkTokens(device, { B: 1, heads: 1, d: 40, lq: 200, lk: 16 }, 22, variant);
    }
  },

  'self-attention with twice the keys: fused two-source form equals attending to the concatenation': async ({ device }) => {
    for (const variant of variantsOf(device)) {
      // The reference concatenates explicitly; the kernel reads the two sources in place.
      await checkTokens(device, { B: 2, heads: 2, d: 16, lq: 64, lk: 64, lk2: 64 }, 30, variant);
      await checkTokens(device, { B: 1, heads: 3, d: 12, lq: 17, lk: 17, lk2: 17 }, 31, variant);
      await checkTokens(device, { B: 1, heads: 1, d: 12, lq: 7, lk: 3, lk2: 65 }, 32, variant);
    }
    // A pre-concatenated 2x key tensor goes through the one-source path.
    await checkTokens(device, { B: 1, heads: 2, d: 8, lq: 65, lk: 130 }, 33);
  },

  'temporal attention across frames at each pixel of an NHWC video, no permute': async ({ device, log }) => {
    for (const variant of variantsOf(device)) {
      for (const [B, F, H, W, heads, d, seed] of [
        [2, 7, 3, 5, 2, 8, 40],
        [1, 16, 4, 4, 1, 40, 41],
        [1, 1, 2, 3, 3, 12, 42],
      ] as const) {
        const C = heads * d;
        const r = rng(seed);
        const n = B * F * H * W * C;
        const [xq, xk, xv] = [randomArray(n, r), randomArray(n, r), randomArray(n, r)];
        const shape = [B * F, H, W, C];
        const q = device.tensor(shape, 'f32', xq);
        const k = device.tensor(shape, 'f32', xk);
        const v = device.tensor(shape, 'f32', xv);
        const o = temporalAttention(q, k, v, F, { heads, variant });
        assertEqual(o.shape, shape, 'output shape');
        const got = await o.read();
        // Reference by an explicit permute to [B*H*W, F, C] tokens and back.
        const toTokens = (x: Float32Array) => {
          const t = new Float32Array(n);
          for (let b = 0; b < B; b++)
            for (let f = 0; f < F; f++)
              for (let p = 0; p < H * W; p++)
                for (let c = 0; c < C; c++) t[((b * H * W + p) * F + f) * C + c] = x[((b * F + f) * H * W + p) * C + c]!;
          return t;
        };
        const flat: Strides = [F * C, 0, C, d];
        const ref = reference(
          { data: toTokens(xq), s: flat },
          [{ k: { data: toTokens(xk), s: flat }, v: { data: toTokens(xv), s: flat }, len: F }],
          { size: n, s: flat },
          [B * H * W, 1],
          heads,
          d,
          F,
          1 / Math.sqrt(d),
        );
        const back = new Float64Array(n);
        for (let b = 0; b < B; b++)
          for (let f = 0; f < F; f++)
            for (let p = 0; p < H * W; p++)
              for (let c = 0; c < C; c++) back[((b * F + f) * H * W + p) * C + c] = ref[((b * H * W + p) * F + f) * C + c]!;
        assertClose(got, back, { ...TOL, label: `temporal ${variant} B${B} F${F} ${H}x${W} h${heads} d${d}` });
        for (const t of [q, k, v, o]) t.release();
      }
    }
    log(`temporal layout checked for ${variantsOf(device).join(', ')}`);
  },

  'explicit strides and offsets: Q, K, V read in place from a fused QKV tensor [B, L, 3C], custom scale': async ({ device }) => {
    const [B, L, heads, d] = [2, 17, 2, 12];
    const C = heads * d;
    const r = rng(50);
    const qkv = randomArray(B * L * 3 * C, r);
    const t = device.tensor([B, L, 3 * C], 'f32', qkv);
    const s: Strides = [L * 3 * C, 0, 3 * C, d];
    const os: Strides = [L * C, 0, C, d];
    const scale = 0.3;
    const ref = reference(
      { data: qkv.subarray(0), s },
      [{ k: { data: qkv.subarray(C), s }, v: { data: qkv.subarray(2 * C), s }, len: L }],
      { size: B * L * C, s: os },
      [B, 1],
      heads,
      d,
      L,
      scale,
    );
    for (const variant of variantsOf(device)) {
      const o = attentionStrided({
        q: { tensor: t, strides: s },
        k: { tensor: t, strides: s, offset: C },
        v: { tensor: t, strides: s, offset: 2 * C },
        out: { shape: [B, L, C], strides: os },
        batch: [B, 1],
        heads,
        headDim: d,
        lq: L,
        lk: L,
        scale,
        variant,
      });
      assertClose(await o.read(), ref, { ...TOL, label: `fused qkv ${variant}` });
      o.release();
    }
    // The output can also be written at an offset into a larger tensor.
    const o2 = attentionStrided({
      q: { tensor: t, strides: s },
      k: { tensor: t, strides: s, offset: C },
      v: { tensor: t, strides: s, offset: 2 * C },
      out: { shape: [B, L, 2 * C], strides: [L * 2 * C, 0, 2 * C, d], offset: C },
      batch: [B, 1],
      heads,
      headDim: d,
      lq: L,
      lk: L,
      scale,
    });
    const got = await o2.read();
    const right = new Float32Array(B * L * C);
    for (let row = 0; row < B * L; row++) right.set(got.subarray(row * 2 * C + C, row * 2 * C + 2 * C), row * C);
    assertClose(right, ref, { ...TOL, label: 'output at an offset' });
    o2.release();
    t.release();
  },

  'bad shapes raise ShapeError': async ({ device }) => {
    const q = device.tensor([1, 4, 16], 'f32');
    const k = device.tensor([1, 5, 16], 'f32');
    const v = device.tensor([1, 6, 16], 'f32');
    const k0 = device.tensor([1, 0, 16], 'f32');
    await assertThrows(() => attention(q, k, v, { heads: 2 }), ShapeError, /do not match/);
    await assertThrows(() => attention(q, k, k, { heads: 3 }), ShapeError, /heads/);
    await assertThrows(() => attention(q, k0, k0, { heads: 2 }), ShapeError, /no keys/);
    await assertThrows(() => attention(q, k, k, { heads: 2, k2: k }), ShapeError, /together/);
    await assertThrows(
      () => attentionStrided({ q: { tensor: q, strides: [64, 0, 16, 8] }, k: { tensor: k, strides: [80, 0, 16, 8] }, v: { tensor: k, strides: [80, 0, 16, 8] }, out: { shape: [1, 4, 16], strides: [64, 0, 16, 8] }, batch: [2, 1], heads: 2, headDim: 8, lq: 4, lk: 5 }),
      ShapeError,
      /too small/,
    );
    for (const t of [q, k, v, k0]) t.release();
  },

  'prepareAttention compiles the kernel attention() then uses': async ({ openDevice }) => {
    const device = await openDevice();
    await prepareAttention(device, { headDim: 16, rows: 2 * 2 * 9, lq: 9, lk: 9, concat: false, aligned: true });
    const compiled = device.stats.pipelinesCompiled;
    assertEqual(compiled, 1, 'one pipeline prepared');
    await checkTokens(device, { B: 2, heads: 2, d: 16, lq: 9, lk: 9 }, 70);
    assertEqual(device.stats.pipelinesCompiled, compiled, 'no compile at dispatch');
  },

  'variant selection: rows on CPU adapters, tiles need no more than 16 KiB': ({ device }) => {
    const p = { headDim: 160, rows: 4096, lq: 4096, lk: 4096, concat: false, aligned: true };
    const spec = selectVariant(device.info, p);
    if (device.info.isCpuBacked) assertEqual(spec.VARIANT, 'rows', 'CPU variant');
    const tiled = selectVariant(device.info, p, 'tiled');
    assert(2 * tiled.BK * tiled.DV * 16 <= 16384 && tiled.BK % 4 === 0, `tile of ${tiled.BK} keys x ${tiled.DV} vec4`);
  },

  '4,096 queries x 8,192 keys (d 8): no buffer the size of the score matrix': async ({ openDevice, log }) => {
    const device = await openDevice();
    const [lq, lk, d] = [4096, 8192, 8];
    const r = rng(60);
    const xq = randomArray(lq * d, r);
    const xk = randomArray(lk * d, r);
    const xv = randomArray(lk * d, r);
    const q = device.tensor([1, lq, d], 'f32', xq);
    const k = device.tensor([1, lk, d], 'f32', xk);
    const v = device.tensor([1, lk, d], 'f32', xv);
    const t0 = performance.now();
    const o = attention(q, k, v, { heads: 1 });
    const got = await o.read();
    const ms = performance.now() - t0;
    const largest = device.stats.largestBufferBytes;
    log(`4096x8192 d8 (${selectVariant(device.info, { headDim: d, rows: lq, lq, lk, concat: false, aligned: true }).VARIANT}): ${ms.toFixed(0)} ms, largest buffer ${largest} bytes`);
    assert(largest <= lk * d * 4, `largest buffer ${largest} exceeds the K tensor (${lk * d * 4} bytes)`);
    assert(largest < lq * lk * 4, 'no score matrix');
    // Spot-check 9 rows against the reference (the full one is 270 M multiply-adds in JS).
    const rows = [0, 1, 2, 1023, 2048, 3000, 4093, 4094, 4095];
    const kvs: Strides = [lk * d, 0, d, d];
    const subQ = new Float32Array(rows.length * d);
    rows.forEach((i, n) => subQ.set(xq.subarray(i * d, i * d + d), n * d));
    const ref = reference({ data: subQ, s: [rows.length * d, 0, d, d] }, [{ k: { data: xk, s: kvs }, v: { data: xv, s: kvs }, len: lk }], { size: rows.length * d, s: [rows.length * d, 0, d, d] }, [1, 1], 1, d, rows.length, 1 / Math.sqrt(d));
    const sub = new Float32Array(rows.length * d);
    rows.forEach((i, n) => sub.set(got.subarray(i * d, i * d + d), n * d));
    // 8,192 keys accumulated in f32: allow a little more than the small cases.
    assertClose(sub, ref, { atol: 5e-5, rtol: 5e-4, label: 'spot rows' });
  },
};
