import { ShapeError } from '../../../src/errors';
import { linear, matmul, prepareMatmul, parseChoice, selectVariant, choiceName, tuneCandidates, tuneMatmul, matmulShapeClass, type MatmulChoice } from '../../../src/ops/math/matmul';
import type { Activation } from '../../../src/ops/activation';
import { clearTuning, tunedChoice } from '../../../src/ops/tune';
import { f16ArrayToF32, f32ArrayToF16 } from '../../../src/runtime/half';
import type { FlapDevice } from '../../../src/runtime/device';
import { assert, assertClose, assertEqual, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

/** erf in float64: Taylor series below 3, continued fraction for erfc above (both ~1e-13 here). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = ax;
  for (let n = 80; n >= 1; n--) f = ax + n / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
}

const activations: Record<Activation, (x: number) => number> = {
  none: (x) => x,
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  relu: (x) => Math.max(x, 0),
};

interface Problem {
  batchA: number[];
  batchB: number[];
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  residual: boolean;
  act: Activation;
  f16: boolean;
}

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

function describe(p: Problem): string {
  const a = [...p.batchA, ...(p.transA ? [p.K, p.M] : [p.M, p.K])];
  const b = [...p.batchB, ...(p.transB ? [p.N, p.K] : [p.K, p.N])];
  return `A[${a}]${p.transA ? 'T' : ''} B[${b}]${p.transB ? 'T' : ''}${p.f16 ? ' f16' : ''}${p.bias ? ' +bias' : ''} ${p.act}${p.residual ? ' +res' : ''}`;
}

/** Plain-JS reference, float64 accumulation, NumPy batch broadcasting. */
function reference(p: Problem, a: Float32Array, b: Float32Array, bias: Float32Array | undefined, res: Float32Array | undefined): Float32Array {
  const rank = Math.max(p.batchA.length, p.batchB.length);
  const pa = [...new Array(rank - p.batchA.length).fill(1), ...p.batchA];
  const pb = [...new Array(rank - p.batchB.length).fill(1), ...p.batchB];
  const ob = pa.map((d, i) => Math.max(d, pb[i]!));
  const { M, N, K } = p;
  const out = new Float32Array(numel(ob) * M * N);
  const coord = new Array<number>(rank).fill(0);
  for (let z = 0; z < numel(ob); z++) {
    let r = z;
    for (let d = rank - 1; d >= 0; d--) {
      coord[d] = r % ob[d]!;
      r = Math.floor(r / ob[d]!);
    }
    let za = 0;
    let zb = 0;
    for (let d = 0; d < rank; d++) {
      za = za * pa[d]! + (pa[d] === 1 ? 0 : coord[d]!);
      zb = zb * pb[d]! + (pb[d] === 1 ? 0 : coord[d]!);
    }
    const ab = za * M * K;
    const bb = zb * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const x = a[ab + (p.transA ? k * M + m : m * K + k)]!;
          const y = b[bb + (p.transB ? n * K + k : k * N + n)]!;
          s += x * y;
        }
        if (bias) s += bias[n]!;
        s = activations[p.act](s);
        const o = (z * M + m) * N + n;
        if (res) s += res[o]!;
        out[o] = s;
      }
    }
  }
  return out;
}

/** f32 accumulation of K terms of size <= 1 against a float64 reference: a few ulps per term at worst. */
const tol = (K: number) => ({ atol: 1e-6 + 2e-7 * K, rtol: 1e-5 });

/** Runs one problem on the GPU with `choice` and compares to the reference (f16: with the rounded weights). */
async function check(device: FlapDevice, p: Problem, seed: number, choice?: MatmulChoice, f32Too = false): Promise<void> {
  const r = rng(seed);
  const aShape = [...p.batchA, ...(p.transA ? [p.K, p.M] : [p.M, p.K])];
  const bShape = [...p.batchB, ...(p.transB ? [p.N, p.K] : [p.K, p.N])];
  const av = randomArray(numel(aShape), r);
  const bv = randomArray(numel(bShape), r);
  const biasv = p.bias ? randomArray(p.N, r) : undefined;
  const rank = Math.max(p.batchA.length, p.batchB.length);
  const ob = Array.from({ length: rank }, (_, i) => Math.max(p.batchA[p.batchA.length - rank + i] ?? 1, p.batchB[p.batchB.length - rank + i] ?? 1));
  const outShape = [...ob, p.M, p.N];
  const resv = p.residual ? randomArray(numel(outShape), r) : undefined;
  const bHalf = p.f16 ? f32ArrayToF16(bv) : undefined;
  const bUsed = bHalf ? f16ArrayToF32(bHalf) : bv;
  await device.scopeAsync(async () => {
    const out = matmul(device.tensor(aShape, 'f32', av), device.tensor(bShape, p.f16 ? 'f16' : 'f32', bHalf ?? bv), {
      transA: p.transA,
      transB: p.transB,
      bias: biasv && device.tensor([p.N], 'f32', biasv),
      residual: resv && device.tensor(outShape, 'f32', resv),
      activation: p.act,
      variant: choice,
    });
    assertEqual(out.shape, outShape, `${describe(p)} shape`);
    const got = await out.read();
    assertClose(got, reference(p, av, bUsed, biasv, resv), { ...tol(p.K), label: `${describe(p)} (${choice ? choiceName(choice) : 'auto'})` });
    if (p.f16 && f32Too) {
      // Against the unrounded f32 weights: each weight is off by at most 2^-11 relative, so the sum is off
      // by a random walk of K terms, std about 1e-4 * sqrt(K) for values in [-1, 1); 6 sigma.
      assertClose(got, reference(p, av, bv, biasv, resv), { atol: 6e-4 * Math.sqrt(p.K), rtol: 1e-3, label: `${describe(p)} vs f32 weights` });
    }
  });
}

const SIZES = [1, 2, 3, 5, 7, 13, 17, 31, 33, 64, 65, 127, 257];
const ACTS: Activation[] = ['none', 'silu', 'gelu', 'gelu_tanh', 'relu'];

const SIZES4 = [4, 8, 12, 28, 36, 64, 100, 260];
const SIZES_ODD = [1, 2, 3, 5, 7, 13, 17, 31, 33, 65, 127, 257];

/**
 * Layout and epilogue presets for the variants with workgroup barriers: SwiftShader takes about a second to
 * compile each of their specialisations, so their random shapes draw from these few combinations (each
 * template flag is on in one and off in another) instead of all of them. `m4`/`k4`/`n4`: that size is a
 * multiple of 4, which decides the vec4 paths.
 */
const PRESETS = [
  { transA: false, transB: false, m4: true, k4: true, n4: true, f16: false, bias: true, residual: false, act: 'silu' },
  { transA: false, transB: true, m4: false, k4: false, n4: false, f16: true, bias: true, residual: true, act: 'gelu' },
  { transA: true, transB: false, m4: true, k4: false, n4: false, f16: false, bias: false, residual: false, act: 'none' },
  { transA: true, transB: true, m4: false, k4: true, n4: false, f16: true, bias: false, residual: true, act: 'gelu_tanh' },
  { transA: false, transB: true, m4: false, k4: true, n4: true, f16: true, bias: true, residual: false, act: 'gelu' },
  { transA: false, transB: false, m4: false, k4: false, n4: true, f16: false, bias: false, residual: true, act: 'none' },
] as const;

/**
 * Fixed edge cases plus random ones, at least 24 in all, the random ones kept under `maxMacs` multiply-adds.
 * With `presets`, the random ones take their layout and epilogue from PRESETS (see there why).
 */
function problems(seed: number, maxMacs = 1 << 20, presets = false, count = 24): Problem[] {
  const base = { bias: false, residual: false, act: 'none' as Activation, f16: false, transA: false, transB: false, batchA: [], batchB: [] };
  const list: Problem[] = [
    { ...base, M: 1, N: 1, K: 1 },
    { ...base, M: 3, N: 5, K: 4099, bias: true, act: 'gelu' },
    { ...base, M: 1, N: 64, K: 4099, transB: true, f16: true },
    { ...base, M: 65, N: 33, K: 127, transA: true, residual: true, act: 'silu' },
    { ...base, M: 64, N: 64, K: 64, transA: true, transB: true, bias: true, act: 'gelu_tanh', residual: true },
    { ...base, M: 7, N: 13, K: 17, batchA: [2, 1], batchB: [3, 1, 1], transB: true, bias: true },
    { ...base, M: 33, N: 64, K: 32, batchA: [3], batchB: [], f16: true, transB: true, act: 'gelu' },
    // Rank-5 batch whose leading 1 leaves four real dimensions.
    { ...base, M: 5, N: 4, K: 3, batchA: [1, 1, 2, 1, 3], batchB: [2, 2, 1, 1], residual: true },
  ];
  if (presets) {
    // The same edges within the presets: long K (4099 or 4100) for each, 1x1x1, broadcast batches.
    list.length = 0;
    for (const p of PRESETS) list.push({ ...p, batchA: [], batchB: [], M: p.m4 ? 4 : 3, N: p.n4 ? 8 : 5, K: p.k4 ? 4100 : 4099 });
    list.push({ ...PRESETS[1], batchA: [], batchB: [], M: 1, N: 1, K: 1 });
    list.push({ ...PRESETS[0], batchA: [2, 1], batchB: [3, 1, 1], M: 4, N: 8, K: 12 });
    // Several 64x64 tiles with partial ones at the edges.
    list.push({ ...PRESETS[5], batchA: [], batchB: [], M: 131, N: 72, K: 21 });
    list.push({ ...PRESETS[2], batchA: [], batchB: [], M: 132, N: 67, K: 17 });
  }
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  while (list.length < count) {
    const preset = presets ? PRESETS[list.length % PRESETS.length]! : undefined;
    const size = (four: boolean | undefined) => pick(four === undefined ? SIZES : four ? SIZES4 : SIZES_ODD);
    let M = size(preset?.m4);
    let N = size(preset?.n4);
    let K = size(preset?.k4);
    // Halving keeps a multiple of 4 a multiple of 2 only, so shrink by dropping to the smallest of the class.
    if (M * N * K > maxMacs) M = preset ? (preset.m4 ? 4 : 3) : 1;
    if (M * N * K > maxMacs) N = preset ? (preset.n4 ? 8 : 5) : 3;
    const batched = r() < 0.3;
    list.push({
      M,
      N,
      K,
      batchA: batched ? pick([[2], [1], [2, 1], [3]]) : [],
      batchB: batched ? pick([[2], [1, 2], []]) : [],
      transA: preset?.transA ?? r() < 0.3,
      transB: preset?.transB ?? r() < 0.5,
      bias: preset?.bias ?? r() < 0.5,
      residual: preset?.residual ?? r() < 0.3,
      act: preset?.act ?? pick(ACTS),
      f16: preset?.f16 ?? r() < 0.25,
    });
  }
  return list.filter((p) => {
    // Keep only broadcast-compatible batch pairs (the random picks may not be).
    const ra = p.batchA;
    const rb = p.batchB;
    for (let i = 1; i <= Math.min(ra.length, rb.length); i++) {
      const x = ra[ra.length - i]!;
      const y = rb[rb.length - i]!;
      if (x !== y && x !== 1 && y !== 1) return false;
    }
    return true;
  });
}

function variantCase(choice: MatmulChoice, seed: number, maxMacs?: number, presets = false) {
  return async ({ device, log }: { device: FlapDevice; log: (s: string) => void }) => {
    if (choice.subgroups && !device.info.features.subgroups) {
      log(`${choiceName(choice)}: no subgroups on this device, covered by the other variants`);
      return;
    }
    const list = problems(seed, maxMacs, presets);
    assert(list.length >= 20, `${list.length} problems`);
    for (const [i, p] of list.entries()) {
      const t0 = performance.now();
      await check(device, p, seed * 1000 + i, choice, true);
      log(`${describe(p)}: ${(performance.now() - t0).toFixed(0)} ms`);
    }
  };
}

export const cases: Cases = {
  'blocked variant, 4x4 per thread, on 20+ shapes (edges, long K, batches, transposes, epilogues, f16)': variantCase({ variant: 'blocked', block: '4x4' }, 1),
  'blocked variant, 1x4 per thread, on 20+ shapes': variantCase({ variant: 'blocked', block: '1x4' }, 13),
  'blocked variant, 4x8 per thread, on 20+ shapes': variantCase({ variant: 'blocked', block: '4x8' }, 11),
  'blocked variant, 8x8 per thread, on 20+ shapes': variantCase({ variant: 'blocked', block: '8x8' }, 12, 1 << 18, true),
  'blocked variant, 16x8 per thread, on 20+ shapes': variantCase({ variant: 'blocked', block: '16x8' }, 14, 1 << 18, true),
  'blocked variant, 16x16 per thread, on 20+ shapes': variantCase({ variant: 'blocked', block: '16x16' }, 15, 1 << 18, true),
  'tiled variant on 20+ shapes': variantCase({ variant: 'tiled' }, 2, 1 << 16, true),
  'splitk variant, 16 threads, on 20+ shapes': variantCase({ variant: 'splitk', wg: 16 }, 3, 1 << 16, true),
  'splitk variant, 64 threads, on 20+ shapes': variantCase({ variant: 'splitk', wg: 64 }, 4, 1 << 16, true),
  'splitk variant with subgroupAdd on 20+ shapes': variantCase({ variant: 'splitk', wg: 64, subgroups: true }, 5, 1 << 16, true),

  'automatic selection matches the reference on 20+ shapes and picks by adapter and shape': async ({ device, log }) => {
    clearTuning();
    for (const [i, p] of problems(6).entries()) await check(device, p, 6000 + i);
    const gemv = selectVariant(device.info, { M: 1, N: 320, K: 320, batch: 1, transA: false, transB: true, bF16: false }, { bias: false, residual: false, activation: 'none' });
    const gemm = selectVariant(device.info, { M: 256, N: 256, K: 256, batch: 1, transA: false, transB: false, bF16: false }, { bias: true, residual: false, activation: 'silu' });
    const small = selectVariant(device.info, { M: 80, N: 96, K: 128, batch: 1, transA: false, transB: true, bF16: false }, { bias: false, residual: false, activation: 'none' });
    const block = (M: number, N: number) => selectVariant(device.info, { M, N, K: 96, batch: 1, transA: false, transB: true, bF16: true }, { bias: true, residual: false, activation: 'none' });
    log(`cpu-backed ${device.info.isCpuBacked}, subgroups ${device.info.features.subgroups}: gemv -> ${gemv.VARIANT}/${gemv.WG}, gemm -> ${gemm.VARIANT}`);
    const cpu = device.info.isCpuBacked;
    assertEqual([gemv.VARIANT, gemv.BLOCK], cpu ? ['blocked', '1x4'] : ['splitk', '4x4'], 'small M variant');
    assertEqual([gemm.VARIANT, gemm.BLOCK, gemm.FR, gemm.FC], cpu ? ['blocked', '16x16', 4, 4] : ['tiled', '4x4', 1, 1], 'GEMM variant');
    assertEqual([small.VARIANT, small.BLOCK], cpu ? ['blocked', '4x8'] : ['tiled', '4x4'], 'small GEMM variant (fewer than 128 blocks of 8x8)');
    if (cpu) {
      // The largest block that leaves 128 threads.
      assertEqual(block(1280, 768).BLOCK, '16x16', '1280x768 (the GEGLU projection)');
      assertEqual(block(320, 160).BLOCK, '16x16', '320x160 (200 blocks of 16x16)');
      assertEqual(block(96, 96).BLOCK, '8x8', '96x96 (72 blocks of 16x8, 144 of 8x8)');
      assertEqual(block(16, 1024).BLOCK, '16x8', '16x1024 (64 blocks of 16x16, 128 of 16x8)');
    }
    assertEqual([gemm.VEC_A, gemm.VEC_B, gemm.VEC_OUT, gemm.BIAS, gemm.ACT], [true, true, true, true, 'silu'], 'gemm spec');
  },

  'linear: x @ W^T + b over any-rank x, f32 and f16 weights, fused residual': async ({ device }) => {
    const r = rng(77);
    for (const [lead, inF, outF, half] of [
      [[2, 3], 17, 5, false],
      [[4, 1, 5], 64, 40, true],
      [[1], 33, 1, false],
      [[3], 4099, 3, true],
    ] as [number[], number, number, boolean][]) {
      const x = randomArray(numel(lead) * inF, r);
      const w = randomArray(outF * inF, r);
      const bias = randomArray(outF, r);
      const res = randomArray(numel(lead) * outF, r);
      const wUsed = half ? f16ArrayToF32(f32ArrayToF16(w)) : w;
      const p: Problem = { batchA: [], batchB: [], M: numel(lead), N: outF, K: inF, transA: false, transB: true, bias: true, residual: true, act: 'gelu', f16: half };
      await device.scopeAsync(async () => {
        const y = linear(device.tensor([...lead, inF], 'f32', x), device.tensor([outF, inF], half ? 'f16' : 'f32', w), device.tensor([outF], 'f32', bias), {
          activation: 'gelu',
          residual: device.tensor([...lead, outF], 'f32', res),
        });
        assertEqual(y.shape, [...lead, outF], 'linear shape');
        assertClose(await y.read(), reference(p, x, wUsed, bias, res), { ...tol(inF), label: `linear [${lead}, ${inF}] -> ${outF}` });
      });
    }
  },

  'autotune times the candidates, caches the winner per adapter and shape class, and the winner is used': async ({ device, log }) => {
    clearTuning();
    const shape = { M: 32, N: 64, K: 64, batch: 1, transA: false, transB: true, bF16: false };
    const [result] = await tuneMatmul(device, [shape], 1);
    log(`autotune ${matmulShapeClass(shape)}: ${Object.entries(result!.ms).map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(', ')} -> ${result!.winner}`);
    assertEqual(Object.keys(result!.ms).sort(), tuneCandidates(device.info).map(choiceName).sort(), 'every candidate timed');
    assertEqual(tunedChoice(device.info, 'matmul', matmulShapeClass(shape)), result!.winner, 'winner cached');
    const spec = selectVariant(device.info, shape, { bias: false, residual: false, activation: 'none' });
    const won = parseChoice(result!.winner);
    assertEqual([spec.VARIANT, spec.VARIANT === 'splitk' ? spec.WG : 1], [won.variant, won.variant === 'splitk' ? won.wg : 1], 'tuned spec');
    await check(device, { batchA: [], batchB: [], M: 29, N: 63, K: 61, transA: false, transB: true, bias: true, residual: false, act: 'silu', f16: false }, 99);
    clearTuning();
  },

  'matmul and linear leave no buffers behind but their outputs': async ({ device }) => {
    const before = device.stats.bytesInUse;
    const y = device.scope(() => {
      const x = device.tensor([2, 3, 8], 'f32', randomArray(48, rng(5)));
      const w = device.tensor([4, 8], 'f16', randomArray(32, rng(6)));
      const h = linear(x, w, device.tensor([4], 'f32', [1, 2, 3, 4]), { activation: 'silu', residual: device.tensor([2, 3, 4]) });
      return matmul(h, h, { transB: true });
    });
    assertEqual(y.shape, [2, 3, 3], 'shape');
    // The pool counts whole buckets (at least 256 bytes), so compare with what the output alone holds.
    const held = device.stats.bytesInUse - before;
    y.release();
    const outputOnly = device.scope(() => device.tensor([2, 3, 3]).keep());
    assertEqual(held, device.stats.bytesInUse - before, 'only the output is alive');
    outputOnly.release();
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after release');
  },

  'prepareMatmul compiles ahead the kernel that matmul then uses': async ({ device }) => {
    const shape = { M: 9, N: 12, K: 20, batch: 1, transA: false, transB: true, bF16: true };
    const epilogue = { bias: true, residual: false, activation: 'gelu_tanh' as Activation };
    await prepareMatmul(device, shape, epilogue);
    const compiled = device.stats.pipelinesCompiled;
    await check(device, { batchA: [], batchB: [], M: 9, N: 12, K: 20, transA: false, transB: true, f16: true, bias: true, residual: false, act: 'gelu_tanh' }, 42);
    assertEqual(device.stats.pipelinesCompiled, compiled, 'no compile at first use');
  },

  'bad shapes raise ShapeError': async ({ device }) => {
    await device.scopeAsync(async () => {
      const a = device.tensor([3, 4]);
      await assertThrows(() => matmul(a, device.tensor([5, 2])), ShapeError, /inner dimensions/);
      await assertThrows(() => matmul(a, device.tensor([4])), ShapeError, /rank/);
      await assertThrows(() => matmul(device.tensor([2, 3, 4]), device.tensor([3, 4, 2])), ShapeError, /broadcast/);
      await assertThrows(() => matmul(a, device.tensor([4, 2]), { bias: device.tensor([3]) }), ShapeError, /bias/);
      await assertThrows(() => matmul(a, device.tensor([4, 2]), { residual: device.tensor([2, 3]) }), ShapeError, /residual/);
      await assertThrows(() => matmul(device.tensor([3, 4], 'f16'), device.tensor([4, 2])), ShapeError, /f32/);
      await assertThrows(() => linear(device.tensor([2, 5]), device.tensor([3, 4])), ShapeError, /linear/);
      await assertThrows(() => linear(device.tensor([2, 4]), device.tensor([3, 4]), undefined, { residual: device.tensor([3, 2]) }), ShapeError, /residual/);
      await assertThrows(() => matmul(a, device.tensor([4, 2]), { variant: { variant: 'splitk', wg: 48 } }), ShapeError, /power of two/);
    });
  },
};
