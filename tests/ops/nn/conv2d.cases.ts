import { ShapeError } from '../../../src/errors';
import type { Activation } from '../../../src/ops/activation';
import { conv1d, conv2d, prepareConvWeight, selectBlocking } from '../../../src/ops/nn/conv2d';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/runtime/half';
import { assertClose, assertEqual, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

interface Problem {
  n: number; h: number; w: number; cin: number; cout: number; k: [number, number];
  stride: [number, number]; pad: [number, number, number, number]; dil: [number, number]; groups: number;
  act: Activation; bias: boolean; residual: boolean;
}

const erf = (x: number) => {
  // Abramowitz-Stegun 7.1.26 is what the kernel uses; the reference uses a float64 series instead.
  let sum = x, term = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};
const activate: Record<Activation, (v: number) => number> = {
  none: (v) => v,
  relu: (v) => Math.max(v, 0),
  silu: (v) => v / (1 + Math.exp(-v)),
  gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  gelu_tanh: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
};

/** Float64 reference: x NHWC, w PyTorch [Cout, Cin/g, KH, KW]. */
function reference(p: Problem, x: Float32Array, w: Float32Array, b: Float32Array, res: Float32Array): Float32Array {
  const [kh, kw] = p.k;
  const oh = Math.floor((p.h + p.pad[0] + p.pad[2] - p.dil[0] * (kh - 1) - 1) / p.stride[0]) + 1;
  const ow = Math.floor((p.w + p.pad[1] + p.pad[3] - p.dil[1] * (kw - 1) - 1) / p.stride[1]) + 1;
  const cg = p.cin / p.groups;
  const og = p.cout / p.groups;
  const out = new Float32Array(p.n * oh * ow * p.cout);
  for (let n = 0; n < p.n; n++) for (let y = 0; y < oh; y++) for (let xo = 0; xo < ow; xo++) for (let co = 0; co < p.cout; co++) {
    const g = Math.floor(co / og);
    let s = p.bias ? b[co]! : 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = y * p.stride[0] + ky * p.dil[0] - p.pad[0];
      const ix = xo * p.stride[1] + kx * p.dil[1] - p.pad[1];
      if (iy < 0 || ix < 0 || iy >= p.h || ix >= p.w) continue;
      for (let c = 0; c < cg; c++) s += x[((n * p.h + iy) * p.w + ix) * p.cin + g * cg + c]! * w[((co * cg + c) * kh + ky) * kw + kx]!;
    }
    const at = ((n * oh + y) * ow + xo) * p.cout + co;
    out[at] = activate[p.act](s) + (p.residual ? res[at]! : 0);
  }
  return out;
}

function problems(count: number, seed: number): Problem[] {
  const r = rng(seed);
  const pick = <T>(v: T[]) => v[Math.floor(r() * v.length)]!;
  const base = { n: 1, stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], groups: 1, act: 'none', bias: true, residual: false } as const;
  const list: Problem[] = [
    { ...base, h: 8, w: 8, cin: 4, cout: 32, k: [3, 3], stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], act: 'silu' },
    { ...base, h: 7, w: 9, cin: 5, cout: 7, k: [3, 3], stride: [2, 2], pad: [0, 0, 1, 1], dil: [1, 1] },          // the VAE's (0,1,0,1)
    { ...base, h: 5, w: 5, cin: 6, cout: 6, k: [1, 1], stride: [1, 1], pad: [0, 0, 0, 0], dil: [1, 1], residual: true },
    { ...base, h: 5, w: 4, cin: 3, cout: 5, k: [1, 1], stride: [1, 1], pad: [0, 0, 0, 0], dil: [1, 1], act: 'relu' },
    { ...base, h: 9, w: 9, cin: 8, cout: 8, k: [3, 3], stride: [1, 1], pad: [2, 2, 2, 2], dil: [2, 2], groups: 8 }, // depthwise, dilated
    { ...base, n: 2, h: 1, w: 50, cin: 16, cout: 16, k: [1, 4], stride: [1, 1], pad: [0, 2, 0, 2], dil: [1, 1], groups: 4, act: 'gelu' },
    { ...base, h: 1, w: 101, cin: 1, cout: 6, k: [1, 10], stride: [1, 5], pad: [0, 0, 0, 0], dil: [1, 1], bias: false, act: 'gelu' },
    { ...base, h: 3, w: 3, cin: 2, cout: 3, k: [3, 3], stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], bias: false, residual: true },
  ];
  while (list.length < count) {
    const k = pick([1, 2, 3, 5]);
    const groups = pick([1, 1, 1, 2, 3]);
    list.push({
      n: 1 + Math.floor(r() * 2), h: 1 + Math.floor(r() * 11), w: 1 + Math.floor(r() * 11),
      cin: groups * (1 + Math.floor(r() * 9)), cout: groups * (1 + Math.floor(r() * 9)), k: [k, k],
      stride: [pick([1, 2]), pick([1, 2])], pad: [pick([0, 1, 2]), pick([0, 1]), pick([0, 1, 2]), pick([0, 1])], dil: [1, pick([1, 2])],
      groups, act: pick(['none', 'silu', 'gelu', 'gelu_tanh', 'relu'] as Activation[]), bias: r() < 0.7, residual: r() < 0.3,
    });
  }
  // Drop random problems whose kernel does not fit the padded input.
  return list.filter((p) => p.h + p.pad[0] + p.pad[2] >= p.dil[0] * (p.k[0] - 1) + 1 && p.w + p.pad[1] + p.pad[3] >= p.dil[1] * (p.k[1] - 1) + 1);
}

const roundF16 = (v: Float32Array) => Float32Array.from(v, (x) => f16BitsToF32(f32ToF16Bits(x)));

export const cases: Cases = {
  'conv2d matches a float64 reference on 28 problems: strides, one-sided padding, dilation, groups, 1x1, epilogues; f32 and f16 weights': async ({ device, log }) => {
    const r = rng(21);
    const list = problems(28, 22);
    for (const [i, p] of list.entries()) {
      const [kh, kw] = p.k;
      const x = randomArray(p.n * p.h * p.w * p.cin, r);
      const w = randomArray(p.cout * (p.cin / p.groups) * kh * kw, r).map((v) => v * 0.5);
      const b = randomArray(p.cout, r);
      const f16 = i % 3 === 1;
      const wv = f16 ? roundF16(w) : w;
      await device.scopeAsync(async () => {
        const wt = f16
          ? device.tensor([p.cout, p.cin / p.groups, kh, kw], 'f16', Uint16Array.from(wv, f32ToF16Bits))
          : device.tensor([p.cout, p.cin / p.groups, kh, kw], 'f32', wv);
        const prepared = prepareConvWeight(wt);
        const oh = Math.floor((p.h + p.pad[0] + p.pad[2] - p.dil[0] * (kh - 1) - 1) / p.stride[0]) + 1;
        const ow = Math.floor((p.w + p.pad[1] + p.pad[3] - p.dil[1] * (kw - 1) - 1) / p.stride[1]) + 1;
        const res = randomArray(p.n * oh * ow * p.cout, r);
        const y = conv2d(device.tensor([p.n, p.h, p.w, p.cin], 'f32', x), prepared, p.bias ? device.tensor([p.cout], 'f32', b) : undefined, {
          stride: p.stride, padding: p.pad, dilation: p.dil, groups: p.groups, activation: p.act,
          residual: p.residual ? device.tensor([p.n, oh, ow, p.cout], 'f32', res) : undefined,
        });
        const label = `#${i} ${JSON.stringify(p)}${f16 ? ' f16' : ''}`;
        const rep = assertClose(await y.read(), reference(p, x, wv, b, res), { atol: 1e-4, rtol: 1e-4, label });
        if (i < 4) log(`${label}: max abs err ${rep.maxAbsError.toExponential(2)}`);
        prepared.weight.release();
      });
    }
  },

  'every register blocking (channels 1/2/4/8/16 x pixels 1/4/8 x scalar/vec4) with f32 and f16 weights matches the reference where it fits': async ({ device, log }) => {
    const r = rng(31);
    const vec = { n: 1, dil: [1, 1] as [number, number], act: 'silu' as const, bias: true, residual: true, k: [3, 3] as [number, number] };
    const list: Problem[] = [
      { ...vec, h: 6, w: 7, cin: 8, cout: 16, stride: [1, 1], pad: [1, 1, 1, 1], groups: 1 },
      { ...vec, n: 2, h: 5, w: 9, cin: 12, cout: 8, stride: [2, 2], pad: [0, 0, 1, 1], groups: 1, act: 'none', residual: false },
      { ...vec, h: 4, w: 10, cin: 16, cout: 16, stride: [1, 1], pad: [1, 1, 1, 1], groups: 2 },
      // 16 channels per group in the second group too, a row not a multiple of the pixel blocking.
      { ...vec, h: 5, w: 11, cin: 24, cout: 32, stride: [1, 1], pad: [1, 1, 1, 1], groups: 2 },
      ...problems(9, 32).filter((p) => p.k[0] * p.k[1] > 1),
    ];
    let runs = 0;
    for (const [i, p] of list.entries()) {
      const [kh, kw] = p.k;
      const x = randomArray(p.n * p.h * p.w * p.cin, r);
      const w = roundF16(randomArray(p.cout * (p.cin / p.groups) * kh * kw, r).map((v) => v * 0.5)); // exact in f16 too
      const b = randomArray(p.cout, r);
      const oh = Math.floor((p.h + p.pad[0] + p.pad[2] - p.dil[0] * (kh - 1) - 1) / p.stride[0]) + 1;
      const ow = Math.floor((p.w + p.pad[1] + p.pad[3] - p.dil[1] * (kw - 1) - 1) / p.stride[1]) + 1;
      const res = randomArray(p.n * oh * ow * p.cout, r);
      const expect = reference(p, x, w, b, res);
      for (const CO of [1, 2, 4, 8, 16] as const) for (const PX of [1, 4, 8] as const) for (const VEC of [false, true]) for (const f16 of [false, true]) {
        if ((p.cout / p.groups) % CO !== 0 || (VEC && (p.cin / p.groups) % 4 !== 0)) continue;
        // The f16 weight load depends on CO and VEC only, not on the pixel blocking: one PX covers it.
        if (f16 && PX !== 4) continue;
        const variant = { CO, PX, VEC };
        await device.scopeAsync(async () => {
          const shape = [p.cout, p.cin / p.groups, kh, kw];
          const prepared = prepareConvWeight(f16 ? device.tensor(shape, 'f16', Uint16Array.from(w, f32ToF16Bits)) : device.tensor(shape, 'f32', w));
          assertEqual(prepared.weight.dtype, f16 ? 'f16' : 'f32', 'prepared weight dtype');
          const y = conv2d(device.tensor([p.n, p.h, p.w, p.cin], 'f32', x), prepared, p.bias ? device.tensor([p.cout], 'f32', b) : undefined, {
            stride: p.stride, padding: p.pad, dilation: p.dil, groups: p.groups, activation: p.act,
            residual: p.residual ? device.tensor([p.n, oh, ow, p.cout], 'f32', res) : undefined, variant,
          });
          assertClose(await y.read(), expect, { atol: 1e-4, rtol: 1e-4, label: `#${i} CO=${CO} PX=${PX} VEC=${VEC} f16=${f16} ${JSON.stringify(p)}` });
          prepared.weight.release();
        });
        runs++;
      }
    }
    log(`${runs} (problem, variant) pairs over ${list.length} problems`);
  },

  'the tiled GPU variant matches the reference across tiles (pixels and channels past 64, K not a multiple of 16), f32 and f16, every epilogue': async ({ device, log }) => {
    const r = rng(41);
    const one = { groups: 1, dil: [1, 1] as [number, number] };
    const list: Problem[] = [
      { ...one, n: 2, h: 9, w: 11, cin: 5, cout: 70, k: [3, 3], stride: [1, 1], pad: [1, 1, 1, 1], act: 'silu', bias: true, residual: true },
      { ...one, n: 1, h: 13, w: 10, cin: 17, cout: 3, k: [2, 3], stride: [2, 1], pad: [0, 1, 1, 0], dil: [1, 2], act: 'gelu', bias: false, residual: false },
      { ...one, n: 1, h: 1, w: 101, cin: 1, cout: 6, k: [1, 10], stride: [1, 5], pad: [0, 0, 0, 0], act: 'gelu_tanh', bias: true, residual: false },
      { ...one, n: 3, h: 7, w: 9, cin: 8, cout: 130, k: [3, 3], stride: [2, 2], pad: [0, 0, 1, 1], act: 'relu', bias: true, residual: true },
      ...problems(10, 42).filter((p) => p.groups === 1),
    ];
    for (const [i, p] of list.entries()) {
      const [kh, kw] = p.k;
      const f16 = i % 2 === 1;
      const x = randomArray(p.n * p.h * p.w * p.cin, r);
      const w = roundF16(randomArray(p.cout * p.cin * kh * kw, r).map((v) => v * 0.5));
      const b = randomArray(p.cout, r);
      const oh = Math.floor((p.h + p.pad[0] + p.pad[2] - p.dil[0] * (kh - 1) - 1) / p.stride[0]) + 1;
      const ow = Math.floor((p.w + p.pad[1] + p.pad[3] - p.dil[1] * (kw - 1) - 1) / p.stride[1]) + 1;
      const res = randomArray(p.n * oh * ow * p.cout, r);
      await device.scopeAsync(async () => {
        const shape = [p.cout, p.cin, kh, kw];
        const prepared = prepareConvWeight(f16 ? device.tensor(shape, 'f16', Uint16Array.from(w, f32ToF16Bits)) : device.tensor(shape, 'f32', w));
        const y = conv2d(device.tensor([p.n, p.h, p.w, p.cin], 'f32', x), prepared, p.bias ? device.tensor([p.cout], 'f32', b) : undefined, {
          stride: p.stride, padding: p.pad, dilation: p.dil, activation: p.act,
          residual: p.residual ? device.tensor([p.n, oh, ow, p.cout], 'f32', res) : undefined, variant: 'tiled',
        });
        const rep = assertClose(await y.read(), reference(p, x, w, b, res), { atol: 1e-4, rtol: 1e-4, label: `tiled #${i} f16=${f16} ${JSON.stringify(p)}` });
        if (i < 4) log(`tiled #${i}: ${p.n * oh * ow} pixels x ${p.cout} channels, K ${kh * kw * p.cin}: max abs err ${rep.maxAbsError.toExponential(2)}`);
        prepared.weight.release();
      });
    }
    // A bias per image, and a grouped convolution refused (the tiled kernel takes one group).
    const [n, h, wd, cin, cout] = [2, 5, 6, 4, 9];
    const xs = randomArray(n * h * wd * cin, r), ws = randomArray(cout * cin * 9, r), bs = randomArray(n * cout, r);
    const p: Problem = { n, h, w: wd, cin, cout, k: [3, 3], stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], groups: 1, act: 'none', bias: false, residual: false };
    const want = reference(p, xs, ws, bs, new Float32Array(0)).map((v, i) => v + bs[Math.floor(i / (h * wd * cout)) * cout + (i % cout)]!);
    await device.scopeAsync(async () => {
      const prepared = prepareConvWeight(device.tensor([cout, cin, 3, 3], 'f32', ws));
      const y = conv2d(device.tensor([n, h, wd, cin], 'f32', xs), prepared, device.tensor([n, cout], 'f32', bs), { padding: 1, variant: 'tiled' });
      assertClose(await y.read(), want, { atol: 1e-4, rtol: 1e-4, label: 'tiled, bias per image' });
      const grouped = prepareConvWeight(device.tensor([4, 2, 3, 3]));
      await assertThrows(() => conv2d(device.tensor([1, 5, 5, 4]), grouped, undefined, { padding: 1, groups: 2, variant: 'tiled' }), ShapeError, /one group/);
      prepared.weight.release();
      grouped.weight.release();
    });
  },

  'a bias per image ([N, Cout]: the ResNet time embedding) equals conv + broadcast add; mis-shaped biases are refused': async ({ device }) => {
    const r = rng(33);
    const [n, h, w, cin, cout] = [3, 5, 7, 8, 12];
    const x = randomArray(n * h * w * cin, r), wt = randomArray(cout * cin * 9, r), b = randomArray(n * cout, r);
    const p: Problem = { n, h, w, cin, cout, k: [3, 3], stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], groups: 1, act: 'silu', bias: false, residual: false };
    const plain = reference({ ...p, act: 'none' }, x, wt, b, new Float32Array(0));
    const want = plain.map((v, i) => {
      const z = v + b[Math.floor(i / (h * w * cout)) * cout + (i % cout)]!;
      return z / (1 + Math.exp(-z));
    });
    await device.scopeAsync(async () => {
      const prepared = prepareConvWeight(device.tensor([cout, cin, 3, 3], 'f32', wt));
      const xt = device.tensor([n, h, w, cin], 'f32', x);
      const y = conv2d(xt, prepared, device.tensor([n, cout], 'f32', b), { padding: 1, activation: 'silu' });
      assertClose(await y.read(), want, { atol: 1e-4, rtol: 1e-4, label: 'per-image bias' });
      await assertThrows(() => conv2d(xt, prepared, device.tensor([n + 1, cout]), { padding: 1 }), ShapeError, /bias must be/);
      await assertThrows(() => conv2d(xt, prepared, device.tensor([cout, 1]), { padding: 1 }), ShapeError, /bias must be/);
      prepared.weight.release();
    });
  },

  'a forced variant that does not fit the channels is refused': async ({ device }) => {
    await device.scopeAsync(async () => {
      const prepared = prepareConvWeight(device.tensor([6, 3, 3, 3]));
      const x = device.tensor([1, 5, 5, 3]);
      const base = selectBlocking(6, 1, 3, 5, 9);
      await assertThrows(() => conv2d(x, prepared, undefined, { padding: 1, variant: { ...base, CO: 4 } }), ShapeError, /CO=4/);
      await assertThrows(() => conv2d(x, prepared, undefined, { padding: 1, variant: { ...base, VEC: true } }), ShapeError, /VEC=true/);
      prepared.weight.release();
    });
  },

  'conv1d: the wav2vec2 shapes (k=10 s=5 from one channel, k=3/2 s=2, grouped positional conv with even kernel)': async ({ device }) => {
    const r = rng(23);
    const shapes: [number, number, number, number, number, number, number][] = [
      // L, Cin, Cout, K, stride, padding, groups
      [400, 1, 8, 10, 5, 0, 1], [79, 8, 8, 3, 2, 0, 1], [39, 8, 8, 2, 2, 0, 1], [49, 32, 32, 16, 1, 8, 4], [20, 16, 16, 128, 1, 64, 16],
    ];
    for (const [l, cin, cout, k, stride, pad, groups] of shapes) {
      const x = randomArray(l * cin, r);
      const w = randomArray(cout * (cin / groups) * k, r).map((v) => v * 0.2);
      const b = randomArray(cout, r);
      await device.scopeAsync(async () => {
        const prepared = prepareConvWeight(device.tensor([cout, cin / groups, k], 'f32', w));
        const y = conv1d(device.tensor([1, l, cin], 'f32', x), prepared, device.tensor([cout], 'f32', b), { stride, padding: pad, groups, activation: 'gelu' });
        const p: Problem = { n: 1, h: 1, w: l, cin, cout, k: [1, k], stride: [1, stride], pad: [0, pad, 0, pad], dil: [1, 1], groups, act: 'gelu', bias: true, residual: false };
        assertClose(await y.read(), reference(p, x, w, b, new Float32Array(0)), { atol: 1e-4, rtol: 1e-4, label: `conv1d L=${l} k=${k} g=${groups}` });
        prepared.weight.release();
      });
    }
  },

  'shape mismatches are refused with ShapeError': async ({ device }) => {
    await device.scopeAsync(async () => {
      const w = prepareConvWeight(device.tensor([4, 3, 3, 3]));
      await assertThrows(() => conv2d(device.tensor([1, 5, 5, 2]), w), ShapeError, /channels/);
      await assertThrows(() => conv2d(device.tensor([1, 1, 1, 3]), w), ShapeError, /does not fit/);
      await assertThrows(() => conv2d(device.tensor([1, 5, 5, 3]), w, device.tensor([3])), ShapeError, /bias/);
      w.weight.release();
    });
  },
};
