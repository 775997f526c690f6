// The peers: ONNX Runtime Web and TensorFlow.js, loaded as their own unchanged browser builds (classic scripts
// that set the globals `ort` and `tf`) from the page's vendor/ folder (bench/vendor.json lists the files; bench/run.mjs
// serves them from node_modules, `npm run build` copies them into the site). Only the small part of their APIs that
// the benchmarks use is declared here.
import vendor from './vendor.json';

export interface OrtTensor {
  getData(): Promise<unknown>;
  dispose(): void;
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface Ort {
  env: { wasm: { wasmPaths?: string; numThreads?: number }; versions?: { web?: string } };
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: { executionProviders: string[] }): Promise<OrtSession> };
}

export interface TfTensor {
  data(): Promise<unknown>;
  dispose(): void;
}

type T = TfTensor;

export interface Tfjs {
  version_core?: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor(values: Float32Array, shape: number[]): T;
  tidy(fn: () => T): T;
  matMul(a: T, b: T, transposeA?: boolean, transposeB?: boolean): T;
  fused: {
    matMul(args: { a: T; b: T; transposeB?: boolean; bias?: T }): T;
    conv2d(args: { x: T; filter: T; strides: number; pad: 'same' | 'valid'; bias?: T }): T;
  };
  reshape(x: T, shape: number[]): T;
  moments(x: T, axes: number[], keepDims: boolean): { mean: T; variance: T };
  add(a: T, b: T | number): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T | number): T;
  div(a: T, b: T): T;
  sqrt(x: T): T;
  sigmoid(x: T): T;
  softmax(x: T): T;
}

export interface Peers {
  ort?: Ort;
  tf?: Tfjs;
  /** The threads ONNX Runtime's WASM backend was given: all cores when the page is cross-origin isolated, else 1. */
  ortThreads: number;
  /** Why a peer is missing. */
  problems: string[];
}

function loadScript(url: URL): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = url.href;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`${url.pathname} did not load`));
    document.head.append(s);
  });
}

/**
 * Loads the peers' builds from `vendorDir` in order and sets ONNX Runtime's WASM paths and thread count (once: it
 * reads them when its first session is made). Without cross-origin isolation (COOP/COEP headers, which a static
 * host may not send) WASM threads are unavailable and ONNX Runtime runs single-threaded.
 */
export async function loadPeers(vendorDir: URL): Promise<Peers> {
  const w = window as unknown as { ort?: Ort; tf?: Tfjs };
  const problems: string[] = [];
  for (const script of vendor.scripts) {
    if (script.includes('tfjs-backend') && !w.tf) continue; // its core did not load
    await loadScript(new URL(script, vendorDir)).catch((e: Error) => problems.push(e.message));
  }
  const ortThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency : 1;
  if (w.ort) {
    w.ort.env.wasm.wasmPaths = new URL(vendor.ortWasmPaths, vendorDir).href;
    w.ort.env.wasm.numThreads = ortThreads;
  } else problems.push('ONNX Runtime Web is missing');
  if (!w.tf) problems.push('TensorFlow.js is missing');
  return { ort: w.ort, tf: w.tf, ortThreads, problems };
}
