// bench/kernels: every op of bench/onnx/kernels/manifest.json (SD-1.5 hot spots at a 32x32 latent and the mini
// config's) on this runtime, ONNX Runtime Web (WebGPU EP, the PyTorch-exported single-op graph) and the
// TensorFlow.js WebGPU backend, in one page. Every timed run is the same for all three: inputs already on the
// GPU (ONNX Runtime: CPU tensors, uploaded by its run), the op, and the output read back to the CPU.
// Each runtime uses its native image layout (ours and TF.js NHWC, ONNX NCHW); the arithmetic is the same.
import { createDevice, type FlapDevice } from '../src/runtime/device';
import type { Tensor } from '../src/runtime/tensor';
import { matmul, linear } from '../src/ops/math/matmul';
import { conv2d, prepareConvWeight } from '../src/ops/nn/conv2d';
import { groupNorm, layerNorm } from '../src/ops/nn/norm';
import { attention } from '../src/ops/nn/attention';
import { measureCeilings } from './ceilings';
import { markdownTable, randomData, timeMedian } from './stats';
import type { Ort, Tfjs, TfTensor } from './peers';

interface ManifestEntry {
  file: string;
  op: string;
  set?: string;
  shape: Record<string, number>;
  inputs: { name: string; shape: number[] }[];
  flops: number;
}

export interface KernelRow {
  adapter: string;
  set: string;
  op: string;
  shape: Record<string, number>;
  ms: number;
  gflops?: number;
  gbps?: number;
  fractionOfCeiling: number;
  msOrt: number | null;
  msTfjs: number | null;
  ratioToBestPeer: number | null;
  errors?: string[];
}

/** The ops bound by memory traffic rather than arithmetic: their figure is GB/s against the copy ceiling. */
const MEMORY_BOUND = new Set(['groupnorm_silu', 'layernorm']);

/** Bytes a memory-bound op must move at least: read x, write y (f32). */
function minBytes(e: ManifestEntry): number {
  const n = e.inputs[0]!.shape.reduce((a, b) => a * b, 1);
  return 2 * 4 * n;
}

type Runner = { run: () => Promise<void>; dispose: () => void };

/** Our op with its weights and inputs resident; `run` records the op and reads the output back. */
function ours(device: FlapDevice, e: ManifestEntry): Runner {
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
    dispose: () => keep.forEach((x) => x.release()),
  };
}

/** The same op as a TF.js user would write it (group-norm and attention composed from TF.js ops). */
function tfjs(tf: Tfjs, e: ManifestEntry): Runner {
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
async function onnx(ort: Ort, e: ManifestEntry): Promise<Runner> {
  const bytes = new Uint8Array(await (await fetch(`/bench/onnx/kernels/${e.file}`)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
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

export async function benchKernels(options: { reps: number; sets?: string[]; ops?: string[] }): Promise<{ rows: KernelRow[]; markdown: string }> {
  const w = window as unknown as { ort: Ort; tf: Tfjs };
  const manifest = (await (await fetch('/bench/onnx/kernels/manifest.json')).json()) as { ops: ManifestEntry[] };
  const entries = manifest.ops.filter((e) => (!options.sets || options.sets.includes(e.set ?? '')) && (!options.ops || options.ops.includes(e.op)));
  const device = await createDevice();
  const adapter = device.info.description || `${device.info.vendor} ${device.info.architecture}`.trim();
  w.ort.env.wasm.wasmPaths = '/vendor/onnxruntime-web/dist/';
  await w.tf.setBackend('webgpu');
  await w.tf.ready();
  const ceilings = await measureCeilings(device.gpu, options.reps);
  console.log(`adapter ${adapter}: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGbps.toFixed(1)} GB/s`);
  const rows: KernelRow[] = [];
  for (const e of entries) {
    const errors: string[] = [];
    const ms = await timeRunner(() => ours(device, e), options.reps, errors, 'ours');
    const msOrt = await timeRunner(() => onnx(w.ort, e), options.reps, errors, 'ort');
    const msTfjs = await timeRunner(() => tfjs(w.tf, e), options.reps, errors, 'tfjs');
    if (ms === null) throw new Error(`bench: our ${e.op} failed: ${errors.join('; ')}`);
    const memory = MEMORY_BOUND.has(e.op);
    const rate = memory ? minBytes(e) / ms / 1e6 : e.flops / ms / 1e6;
    const peers = [msOrt, msTfjs].filter((x): x is number => x !== null);
    const row: KernelRow = {
      adapter,
      set: e.set ?? '',
      op: e.op,
      shape: e.shape,
      ms,
      ...(memory ? { gbps: rate } : { gflops: rate }),
      fractionOfCeiling: rate / (memory ? ceilings.copyGbps : ceilings.fmaGflops),
      msOrt,
      msTfjs,
      ratioToBestPeer: peers.length ? Math.min(...peers) / ms : null,
      ...(errors.length ? { errors } : {}),
    };
    rows.push(row);
    console.log(`${row.set} ${e.op} ${JSON.stringify(e.shape)}: ours ${ms.toFixed(2)} ms, ort ${msOrt?.toFixed(2)} ms, tfjs ${msTfjs?.toFixed(2)} ms${errors.length ? ` (${errors.join('; ')})` : ''}`);
  }
  device.destroy();
  const shapeText = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k}${v}`).join(' ');
  const markdown =
    `# Kernel benchmark\n\nAdapter: ${adapter}. Ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGbps.toFixed(1)} GB/s. ` +
    `Medians of ${options.reps} runs after a warm-up run; each run = op + output readback. ` +
    `Ratio = the faster peer's ms ÷ ours (above 1: we are faster).\n\n` +
    markdownTable(
      ['set', 'op', 'shape', 'ours ms', 'GFLOP/s or GB/s', 'of ceiling', 'ORT WebGPU ms', 'TF.js WebGPU ms', 'ratio'],
      rows.map((r) => [r.set, r.op, shapeText(r.shape), r.ms, r.gflops ?? r.gbps, r.fractionOfCeiling, r.msOrt, r.msTfjs, r.ratioToBestPeer]),
    );
  return { rows, markdown };
}
