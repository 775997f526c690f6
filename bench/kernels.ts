// bench/kernels: the kernel suite's cases (bench/shapes.ts: SD-1.5 hot spots at a 32x32 latent and the mini
// config's) on this runtime, ONNX Runtime Web (WebGPU EP, the PyTorch-exported single-op graph from
// bench/onnx/kernels/) and the TensorFlow.js WebGPU backend, in one page. Every timed run is the same for all
// three: inputs already on the GPU (ONNX Runtime: CPU tensors, uploaded by its run), the op, and the output read
// back to the CPU. Each runtime uses its native image layout (ours and TF.js NHWC, ONNX NCHW); the arithmetic is
// the same. A peer that cannot run (no graph, a build that did not load) leaves its figure null and says why.
import { createDevice, type FlapDevice } from '../src/runtime/device';
import type { Tensor } from '../src/runtime/tensor';
import { matmul, linear } from '../src/ops/math/matmul';
import { conv2d, prepareConvWeight } from '../src/ops/nn/conv2d';
import { groupNorm, layerNorm } from '../src/ops/nn/norm';
import { attention } from '../src/ops/nn/attention';
import { measureCeilings, type Ceilings } from './ceilings';
import { kernelCases, type KernelCase } from './shapes';
import { markdownTable, randomData, timeMedian, type Progress, type Table } from './stats';
import type { Ort, Tfjs, TfTensor } from './peers';

/** An entry of bench/onnx/kernels/manifest.json (export_onnx.py ops): the graph and its inputs. */
export interface ManifestEntry {
  file: string;
  op: string;
  set?: string;
  shape: Record<string, number>;
  inputs: { name: string; shape: number[] }[];
  flops: number;
}

/** One row of bench/results/kernels.json. */
export interface KernelRow {
  adapter: string;
  set: string;
  op: string;
  shape: Record<string, number>;
  /** Ours with the output read back, as the peers are timed: the ratio compares like with like. */
  ms: number;
  /**
   * Ours alone: back-to-back runs in one submission, waited for, divided by their number (as the ceilings are
   * measured); the rate and the fraction of the ceiling come from it.
   */
  msKernel: number;
  gflops?: number;
  gbps?: number;
  fractionOfCeiling: number;
  msOrt: number | null;
  msTfjs: number | null;
  ratioToBestPeer: number | null;
  errors?: string[];
}

export type KernelPeer = 'ort' | 'tfjs';

export interface KernelOptions {
  reps: number;
  sets?: string[];
  ops?: string[];
  /** The peers to time beside ours (default both). */
  peers?: KernelPeer[];
  /** Checked between runs; an abort ends the suite with the rows measured so far. */
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Told of each row as soon as it is measured. */
  onRow?: (row: KernelRow, adapter: string, ceilings: Ceilings) => void;
}

/** What the page found: the peers' globals (absent when their builds did not load) and the graphs' manifest. */
export interface KernelPeers {
  ort?: Ort;
  tf?: Tfjs;
  /** bench/onnx/kernels/manifest.json, or why there is none. */
  graphs: { entries: ManifestEntry[]; url: URL } | { missing: string };
}

/** The ops bound by memory traffic rather than arithmetic: their figure is GB/s against the copy ceiling. */
const MEMORY_BOUND = new Set(['groupnorm_silu', 'layernorm']);

/** Bytes a memory-bound op must move at least: read x, write y (f32). */
function minBytes(c: KernelCase): number {
  const s = c.shape;
  return 2 * 4 * (c.op === 'layernorm' ? s.m! * s.c! : s.n! * s.c! * s.h! * s.w!);
}

type Runner = { run: () => Promise<void>; dispose: () => void };

/** Our op with its weights and inputs resident; `run` records the op and reads the output back, `kernel` times the op alone. */
function ours(device: FlapDevice, e: KernelCase): Runner & { kernel: (count: number) => Promise<void> } {
  const s = e.shape;
  const keep: Tensor[] = [];
  const t = (shape: number[], seed: number) => {
    const x = device.tensor(shape, 'f32', randomData(shape.reduce((a, b) => a * b, 1), seed));
    keep.push(x);
    return x;
  };
  let op: () => Tensor;
  switch (e.op) {
    case 'matmul': {
      const a = t([s.m!, s.k!], 1), b = t([s.k!, s.n!], 2);
      op = () => matmul(a, b);
      break;
    }
    case 'linear': {
      const x = t([s.m!, s.k!], 1), w = t([s.n!, s.k!], 2), b = t([s.n!], 3);
      op = () => linear(x, w, b);
      break;
    }
    case 'conv2d3x3': {
      const x = t([s.n!, s.h!, s.w!, s.c!], 1), b = t([s.o!], 3);
      const w = prepareConvWeight(t([s.o!, s.c!, 3, 3], 2));
      keep.push(w.weight);
      op = () => conv2d(x, w, b, { padding: 1 });
      break;
    }
    case 'groupnorm_silu': {
      const x = t([s.n!, s.h!, s.w!, s.c!], 1), g = t([s.c!], 2), b = t([s.c!], 3);
      op = () => groupNorm(x, g, b, s.g!, 1e-5, { silu: true });
      break;
    }
    case 'layernorm': {
      const x = t([s.m!, s.c!], 1), g = t([s.c!], 2), b = t([s.c!], 3);
      op = () => layerNorm(x, g, b, 1e-5);
      break;
    }
    case 'attention': {
      const c = s.heads! * s.d!;
      const q = t([s.b!, s.l!, c], 1), k = t([s.b!, s.s!, c], 2), v = t([s.b!, s.s!, c], 3);
      op = () => attention(q, k, v, { heads: s.heads! });
      break;
    }
    default:
      throw new Error(`bench: no runner for op ${e.op}`);
  }
  return {
    run: async () => {
      const y = op();
      await y.read();
      y.release();
    },
    kernel: async (count: number) => {
      for (let i = 0; i < count; i++) op().release();
      await device.sync();
    },
    dispose: () => keep.forEach((x) => x.release()),
  };
}

/** Runs per kernel timing: enough back-to-back runs for about 100 ms (at most 20), from the time with readback. */
const KERNEL_BATCH_MS = 100;

/** Our time with readback and the kernel's alone, ms per run (medians of `reps`). */
async function timeOurs(device: FlapDevice, c: KernelCase, reps: number): Promise<{ ms: number; msKernel: number }> {
  const runner = ours(device, c);
  try {
    const ms = await timeMedian(runner.run, reps, 1);
    const count = Math.max(1, Math.min(20, Math.round(KERNEL_BATCH_MS / ms)));
    const batch = await timeMedian(() => runner.kernel(count), reps, 1);
    return { ms, msKernel: batch / count };
  } finally {
    runner.dispose();
  }
}

/** The same op as a TF.js user would write it (group-norm and attention composed from TF.js ops). */
function tfjs(tf: Tfjs, e: KernelCase): Runner {
  const s = e.shape;
  const keep: TfTensor[] = [];
  const t = (shape: number[], seed: number) => {
    const x = tf.tensor(randomData(shape.reduce((a, b) => a * b, 1), seed), shape);
    keep.push(x);
    return x;
  };
  let op: () => TfTensor;
  switch (e.op) {
    case 'matmul': {
      const a = t([s.m!, s.k!], 1), b = t([s.k!, s.n!], 2);
      op = () => tf.matMul(a, b);
      break;
    }
    case 'linear': {
      const x = t([s.m!, s.k!], 1), w = t([s.n!, s.k!], 2), b = t([s.n!], 3);
      op = () => tf.fused.matMul({ a: x, b: w, transposeB: true, bias: b });
      break;
    }
    case 'conv2d3x3': {
      const x = t([s.n!, s.h!, s.w!, s.c!], 1), w = t([3, 3, s.c!, s.o!], 2), b = t([s.o!], 3);
      op = () => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b });
      break;
    }
    case 'groupnorm_silu': {
      const x = t([s.n!, s.h!, s.w!, s.c!], 1), g = t([s.c!], 2), b = t([s.c!], 3);
      op = () => tf.tidy(() => {
        const grouped = tf.reshape(x, [s.n!, s.h!, s.w!, s.g!, s.c! / s.g!]);
        const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
        const norm = tf.reshape(tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, 1e-5))), [s.n!, s.h!, s.w!, s.c!]);
        const y = tf.add(tf.mul(norm, g), b);
        return tf.mul(y, tf.sigmoid(y));
      });
      break;
    }
    case 'layernorm': {
      const x = t([s.m!, s.c!], 1), g = t([s.c!], 2), b = t([s.c!], 3);
      op = () => tf.tidy(() => {
        const { mean, variance } = tf.moments(x, [1], true);
        return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
      });
      break;
    }
    case 'attention': {
      const bh = s.b! * s.heads!;
      const q = t([bh, s.l!, s.d!], 1), k = t([bh, s.s!, s.d!], 2), v = t([bh, s.s!, s.d!], 3);
      const scale = 1 / Math.sqrt(s.d!);
      op = () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v));
      break;
    }
    default:
      throw new Error(`bench: no TF.js runner for op ${e.op}`);
  }
  return {
    run: async () => {
      const y = op();
      await y.data();
      y.dispose();
    },
    dispose: () => keep.forEach((x) => x.dispose()),
  };
}

/** ONNX Runtime Web on its WebGPU execution provider, running the PyTorch-exported graph. */
async function onnx(ort: Ort, e: ManifestEntry, url: URL): Promise<Runner> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['webgpu'] });
  const feeds: Record<string, unknown> = {};
  e.inputs.forEach((input, i) => {
    feeds[input.name] = new ort.Tensor('float32', randomData(input.shape.reduce((a, b) => a * b, 1), i + 1), input.shape);
  });
  return {
    run: async () => {
      const out = await session.run(feeds);
      for (const t of Object.values(out)) {
        await t.getData();
        t.dispose();
      }
    },
    dispose: () => void session.release(),
  };
}

async function timeRunner(make: () => Runner | Promise<Runner>, reps: number, errors: string[], label: string): Promise<number | null> {
  let runner: Runner | undefined;
  try {
    runner = await make();
    return await timeMedian(runner.run, reps, 1);
  } catch (err) {
    errors.push(`${label}: ${(err as Error).message}`);
    return null;
  } finally {
    runner?.dispose();
  }
}

const shapeText = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k}${v}`).join(' ');

/** The results table: the same columns and cells in the markdown and on the page. */
export function kernelTable(rows: readonly KernelRow[]): Table {
  return {
    columns: ['set', 'op', 'shape', 'ours ms', 'ours kernel ms', 'GFLOP/s or GB/s', 'of ceiling', 'ORT WebGPU ms', 'TF.js WebGPU ms', 'ratio'],
    rows: rows.map((r) => [r.set, r.op, shapeText(r.shape), r.ms, r.msKernel, r.gflops ?? r.gbps, r.fractionOfCeiling, r.msOrt, r.msTfjs, r.ratioToBestPeer]),
  };
}

export function kernelMarkdown(rows: readonly KernelRow[], adapter: string, ceilings: Ceilings, reps: number, notes: readonly string[] = []): string {
  const table = kernelTable(rows);
  return (
    `# Kernel benchmark\n\nAdapter: ${adapter}. Ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGbps.toFixed(1)} GB/s. ` +
    `Medians of ${reps} runs after a warm-up run. Ours ms, ORT and TF.js: each run = op + output readback; ` +
    `ratio = the faster peer's ms ÷ ours (above 1: we are faster). Ours kernel ms: the op alone, up to 20 runs back to back ` +
    `in one submission, waited for, divided by their number, as the ceilings are measured; GFLOP/s or GB/s and the fraction ` +
    `of the ceiling come from it (bench/README.md: a readback costs as much as a small op).\n\n` +
    markdownTable(table.columns, table.rows) +
    (notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : '')
  );
}

export async function benchKernels(options: KernelOptions, peers: KernelPeers): Promise<{ rows: KernelRow[]; markdown: string }> {
  const cases = kernelCases(options.sets, options.ops);
  if (!cases.length) throw new Error(`bench: no kernel case in sets ${options.sets?.join(',') ?? 'all'} with ops ${options.ops?.join(',') ?? 'all'}`);
  const want = new Set(options.peers ?? ['ort', 'tfjs']);
  const notes: string[] = [];
  const graphs = new Map<string, ManifestEntry>();
  const graphBase = 'url' in peers.graphs ? peers.graphs.url : undefined;
  const noGraphs = 'missing' in peers.graphs ? peers.graphs.missing : undefined;
  if ('entries' in peers.graphs) for (const e of peers.graphs.entries) graphs.set(e.file, e);
  if (want.has('ort') && !peers.ort) notes.push('ONNX Runtime not timed: its build did not load');
  else if (want.has('ort') && noGraphs) notes.push(`ONNX Runtime not timed: ${noGraphs}`);
  if (want.has('tfjs') && !peers.tf) notes.push('TF.js not timed: its build did not load');
  if (!want.has('ort')) notes.push('ONNX Runtime not run (not selected)');
  if (!want.has('tfjs')) notes.push('TF.js not run (not selected)');
  const device = await createDevice();
  try {
    const adapter = device.info.description || `${device.info.vendor} ${device.info.architecture}`.trim();
    const total = cases.length * (1 + want.size) + 1;
    let done = 0;
    const progress = (label: string) => options.onProgress?.({ done, total, label });
    progress('ceilings: FMA and copy');
    const ceilings = await measureCeilings(device.gpu, options.reps);
    done++;
    console.log(`adapter ${adapter}: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGbps.toFixed(1)} GB/s`);
    if (want.has('tfjs') && peers.tf) {
      await peers.tf.setBackend('webgpu');
      await peers.tf.ready();
    }
    const rows: KernelRow[] = [];
    for (const c of cases) {
      if (options.signal?.aborted) {
        notes.push(`stopped after ${rows.length} of ${cases.length} cases`);
        break;
      }
      const errors: string[] = [];
      const name = `${c.set} ${c.op} ${shapeText(c.shape)}`;
      progress(`${name}: ours`);
      const { ms, msKernel } = await timeOurs(device, c, options.reps).catch((err: Error) => {
        throw new Error(`bench: our ${c.op} failed: ${err.message}`);
      });
      done++;
      let msOrt: number | null = null;
      let msTfjs: number | null = null;
      if (want.has('ort')) {
        progress(`${name}: ONNX Runtime`);
        const entry = graphs.get(c.file);
        const ort = peers.ort;
        if (!ort) errors.push('ort: ONNX Runtime Web did not load');
        else if (!graphBase || noGraphs) errors.push(`ort: ${noGraphs ?? 'no graphs'}`);
        else if (!entry) errors.push(`ort: no graph ${c.file} among the page's graphs (sh bench/onnx/make.sh kernels)`);
        else msOrt = await timeRunner(() => onnx(ort, entry, new URL(c.file, graphBase)), options.reps, errors, 'ort');
        done++;
      }
      if (want.has('tfjs')) {
        progress(`${name}: TF.js`);
        const tf = peers.tf;
        if (tf) msTfjs = await timeRunner(() => tfjs(tf, c), options.reps, errors, 'tfjs');
        else errors.push('tfjs: TensorFlow.js did not load');
        done++;
      }
      const memory = MEMORY_BOUND.has(c.op);
      const rate = memory ? minBytes(c) / msKernel / 1e6 : c.flops / msKernel / 1e6;
      const timed = [msOrt, msTfjs].filter((x): x is number => x !== null);
      const row: KernelRow = {
        adapter,
        set: c.set,
        op: c.op,
        shape: c.shape,
        ms,
        msKernel,
        ...(memory ? { gbps: rate } : { gflops: rate }),
        fractionOfCeiling: rate / (memory ? ceilings.copyGbps : ceilings.fmaGflops),
        msOrt,
        msTfjs,
        ratioToBestPeer: timed.length ? Math.min(...timed) / ms : null,
        ...(errors.length ? { errors } : {}),
      };
      rows.push(row);
      options.onRow?.(row, adapter, ceilings);
      console.log(`${name}: ours ${ms.toFixed(2)} ms (kernel ${msKernel.toFixed(2)} ms), ort ${msOrt?.toFixed(2)} ms, tfjs ${msTfjs?.toFixed(2)} ms${errors.length ? ` (${errors.join('; ')})` : ''}`);
    }
    done = total;
    progress('done');
    return { rows, markdown: kernelMarkdown(rows, adapter, ceilings, options.reps, notes) };
  } finally {
    device.destroy();
  }
}
