// The small part of ONNX Runtime Web's and TensorFlow.js's APIs that the benchmarks use. Both are loaded by
// bench/page.html as their own browser builds (globals `ort` and `tf`), so only types are declared here.

export interface OrtTensor {
  getData(): Promise<unknown>;
  dispose(): void;
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface Ort {
  env: { wasm: { wasmPaths?: string; numThreads?: number } };
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: { executionProviders: string[] }): Promise<OrtSession> };
}

export interface TfTensor {
  data(): Promise<unknown>;
  dispose(): void;
}

type T = TfTensor;

export interface Tfjs {
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
