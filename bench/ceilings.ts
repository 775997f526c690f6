// The adapter's own ceilings, so every kernel time can be read as a fraction of what the adapter can do: FMA
// throughput (GFLOP/s, a multiply-add counted as 2) and copy bandwidth (GB/s, bytes read + written).
import fmaSource from './shaders/fma.wgsl?raw';
import copySource from './shaders/copy.wgsl?raw';
import { median } from './stats';

export interface Ceilings {
  fmaGflops: number;
  copyGbps: number;
}

async function timeSubmit(gpu: GPUDevice, record: (pass: GPUComputePassEncoder) => void, reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const enc = gpu.createCommandEncoder();
    const pass = enc.beginComputePass();
    record(pass);
    pass.end();
    gpu.queue.submit([enc.finish()]);
    await gpu.queue.onSubmittedWorkDone();
    if (i > 0) times.push(performance.now() - t0); // the first run pays for pipeline creation
  }
  return median(times);
}

export async function measureCeilings(gpu: GPUDevice, reps: number): Promise<Ceilings> {
  const iters = 256;
  const threads = 64 * 1024;
  const fmaPipe = await gpu.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: gpu.createShaderModule({ code: fmaSource }), entryPoint: 'main', constants: { ITERS: iters } },
  });
  const fmaOut = gpu.createBuffer({ size: threads * 16, usage: GPUBufferUsage.STORAGE });
  const fmaGroup = gpu.createBindGroup({ layout: fmaPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: fmaOut } }] });
  const fmaMs = await timeSubmit(gpu, (p) => {
    p.setPipeline(fmaPipe);
    p.setBindGroup(0, fmaGroup);
    p.dispatchWorkgroups(threads / 64);
  }, reps);
  const flops = threads * iters * 8 * 4 * 2;

  const vec4s = 4 * 1024 * 1024; // 64 MiB each way
  const copyPipe = await gpu.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: gpu.createShaderModule({ code: copySource }), entryPoint: 'main' },
  });
  const src = gpu.createBuffer({ size: vec4s * 16, usage: GPUBufferUsage.STORAGE });
  const dst = gpu.createBuffer({ size: vec4s * 16, usage: GPUBufferUsage.STORAGE });
  const copyGroup = gpu.createBindGroup({
    layout: copyPipe.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
  });
  const groups = vec4s / 64;
  const copyMs = await timeSubmit(gpu, (p) => {
    p.setPipeline(copyPipe);
    p.setBindGroup(0, copyGroup);
    p.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
  }, reps);
  for (const b of [fmaOut, src, dst]) b.destroy();
  return { fmaGflops: flops / fmaMs / 1e6, copyGbps: (2 * vec4s * 16) / copyMs / 1e6 };
}
