// The kernel suite's problems: weights-tools/export_onnx.py's SHAPE_SETS, op keys, file names and FLOP counts,
// here too so that the page times this runtime (and TF.js) when the ONNX graphs were never made.
// tests/bench/shapes.test.ts checks these sets against export_onnx.py; the page takes each ONNX graph's inputs
// from the graphs' manifest.json, and the site test compares a case with its manifest entry.

export type Shape = Record<string, number>;

/** Each op's shape keys, in export_onnx.py's order (file names and the manifest's `shape` follow it). */
export const OP_KEYS: Record<string, readonly string[]> = {
  matmul: ['m', 'k', 'n'],
  linear: ['m', 'k', 'n'],
  conv2d3x3: ['n', 'c', 'h', 'w', 'o'],
  groupnorm_silu: ['n', 'c', 'h', 'w', 'g'],
  attention: ['b', 'heads', 'l', 's', 'd'],
  layernorm: ['m', 'c'],
};

/** FLOPs as export_onnx.py counts them (a multiply-add is 2). */
const FLOPS: Record<string, (s: Shape) => number> = {
  matmul: (s) => 2 * s.m! * s.k! * s.n!,
  linear: (s) => 2 * s.m! * s.k! * s.n!,
  conv2d3x3: (s) => 2 * s.n! * s.o! * s.h! * s.w! * s.c! * 9,
  groupnorm_silu: (s) => 10 * s.n! * s.c! * s.h! * s.w!,
  attention: (s) => 4 * s.b! * s.heads! * s.l! * s.s! * s.d!,
  layernorm: (s) => 8 * s.m! * s.c!,
};

/** SD-1.5's hot spots at a 32x32 latent and the mini config's (see export_onnx.py SHAPE_SETS for the why). */
export const SHAPE_SETS: Record<string, Record<string, Shape[]>> = {
  sd15: {
    matmul: [{ m: 1024, k: 320, n: 320 }],
    linear: [{ m: 1024, k: 320, n: 2560 }, { m: 1024, k: 1280, n: 320 }, { m: 64, k: 1280, n: 1280 }],
    conv2d3x3: [{ n: 1, c: 320, h: 32, w: 32, o: 320 }, { n: 1, c: 640, h: 16, w: 16, o: 640 }, { n: 1, c: 1280, h: 8, w: 8, o: 1280 }],
    groupnorm_silu: [{ n: 1, c: 320, h: 32, w: 32, g: 32 }, { n: 1, c: 1280, h: 8, w: 8, g: 32 }],
    attention: [{ b: 1, heads: 8, l: 1024, s: 2048, d: 40 }, { b: 1, heads: 8, l: 1024, s: 16, d: 40 }, { b: 1, heads: 8, l: 256, s: 512, d: 80 }],
    layernorm: [{ m: 1024, c: 320 }],
  },
  mini: {
    matmul: [{ m: 1280, k: 96, n: 96 }],
    linear: [{ m: 1280, k: 96, n: 768 }, { m: 1280, k: 384, n: 96 }, { m: 320, k: 160, n: 160 }],
    conv2d3x3: [{ n: 20, c: 48, h: 16, w: 16, o: 48 }, { n: 20, c: 96, h: 8, w: 8, o: 96 }, { n: 20, c: 160, h: 4, w: 4, o: 160 }],
    groupnorm_silu: [{ n: 20, c: 48, h: 16, w: 16, g: 16 }, { n: 20, c: 160, h: 4, w: 4, g: 16 }],
    attention: [{ b: 20, heads: 4, l: 64, s: 128, d: 24 }, { b: 20, heads: 4, l: 64, s: 4, d: 24 }, { b: 512, heads: 4, l: 10, s: 10, d: 12 }],
    layernorm: [{ m: 1280, c: 96 }],
  },
};

export interface KernelCase {
  set: string;
  op: string;
  /** The op's keys in OP_KEYS order. */
  shape: Shape;
  /** The ONNX graph's file name in bench/onnx/kernels/ (export_onnx.py op_file_name). */
  file: string;
  flops: number;
}

export function caseFor(set: string, op: string, shape: Shape): KernelCase {
  const keys = OP_KEYS[op];
  if (!keys) throw new Error(`bench: unknown op ${op}`);
  const ordered: Shape = {};
  for (const k of keys) {
    if (shape[k] === undefined) throw new Error(`bench: ${op} needs the shape key ${k}`);
    ordered[k] = shape[k]!;
  }
  return { set, op, shape: ordered, file: `${op}_${keys.map((k) => `${k}${ordered[k]}`).join('_')}.onnx`, flops: FLOPS[op]!(ordered) };
}

/** The cases of the chosen sets and ops (all when not given), in export order: set by set, op by op. */
export function kernelCases(sets?: readonly string[], ops?: readonly string[]): KernelCase[] {
  const out: KernelCase[] = [];
  for (const set of sets ?? Object.keys(SHAPE_SETS)) {
    const bySet = SHAPE_SETS[set];
    if (!bySet) throw new Error(`bench: unknown set ${set} (sets: ${Object.keys(SHAPE_SETS).join(', ')})`);
    for (const [op, shapes] of Object.entries(bySet)) {
      if (ops && !ops.includes(op)) continue;
      for (const shape of shapes) out.push(caseFor(set, op, shape));
    }
  }
  return out;
}
