import {
  DeviceLostError,
  FlapError,
  GpuValidationError,
  InputError,
  LimitExceededError,
  OutOfMemoryError,
  ShapeError,
  UseAfterFreeError,
  WebGPUUnavailableError,
} from '../errors';
import { flags } from '../flags';
import { BufferPool, type AllocationFailure } from './buffer_pool';
import { BufferUsage, MapMode } from './gpu_constants';
import { f16ArrayToF32, f32ArrayToF16 } from './half';
import { PipelineCache, type CompiledKernel, type KernelDef } from './kernel';
import { Profiler, type ProfileReport } from './profiler';
import { emptyStats, type RuntimeStats } from './stats';
import { Tensor, bytesPerElement, checkShape, numel, type DType, type Storage } from './tensor';
import type { Spec } from './template';
import type { UniformType, UniformValues } from './uniforms';

export type OptionalFeature = 'shader-f16' | 'subgroups' | 'timestamp-query';

export interface DeviceOptions {
  /** A `GPU` object to use instead of `navigator.gpu` / the `webgpu` package. */
  gpu?: GPU;
  /** Treat these features as absent even if the adapter has them (to test fallbacks). */
  disableFeatures?: OptionalFeature[];
  powerPreference?: GPUPowerPreference;
  label?: string;
  /**
   * Report these subgroup sizes in `info` instead of the adapter's (tests: kernels must be right whatever size
   * the adapter reports, as real ones report sizes they do not run, e.g. Metal 4 on 32-wide SIMD). Kernels then
   * choose their shapes from these; the hardware still runs its own.
   */
  subgroupSizes?: { min: number; max: number };
  /**
   * `'adapter'` (the default) asks for the adapter's own limits; `'default'` asks for WebGPU's default limits
   * only (128 MiB per storage binding, 16 KiB of workgroup memory, 256 invocations per workgroup), the device
   * a page gets on any adapter. Kernels size themselves from `info.limits` either way.
   */
  limits?: 'adapter' | 'default';
  /**
   * Treat storage bindings as at most this many bytes, below the device's own limit: the model splits its work
   * (feed-forward rows, guidance halves, decoded frames) to fit, and any binding still over it is refused with a
   * `LimitExceededError` as a real limit would be. For tests of the splitting path on small models, or headroom.
   */
  maxStorageBufferBindingSize?: number;
}

/** What the adapter and device turned out to be; every number is what the device was created with. */
export interface DeviceInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation such as SwiftShader or llvmpipe: kernels without shared-memory tiles suit it best. */
  isCpuBacked: boolean;
  /** Running in Node through the `webgpu` package (Dawn) rather than a browser. */
  isNode: boolean;
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  subgroupMinSize: number | undefined;
  subgroupMaxSize: number | undefined;
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupSizeY: number;
    maxComputeWorkgroupSizeZ: number;
    maxComputeWorkgroupsPerDimension: number;
    minStorageBufferOffsetAlignment: number;
    minUniformBufferOffsetAlignment: number;
  };
}

/** Arguments of one dispatch. */
export interface RunArgs<U extends Record<string, UniformType>> {
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  uniforms: UniformValues<U>;
  workgroups: readonly [number, number?, number?];
}

const UNIFORM_ARENA_BYTES = 64 * 1024;
/** Bind groups kept for reuse (a mini denoising step binds a few hundred distinct sets). */
const BIND_GROUP_CACHE = 4096;
const isNodeRuntime = () => typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/**
 * Dawn's `GPU` object for Node, created once per process. It must outlive every device made from it:
 * when it is garbage-collected while a device is alive, Dawn aborts the process.
 */
let dawnGpu: GPU | undefined;

async function resolveGpu(options: DeviceOptions): Promise<{ gpu: GPU; isNode: boolean }> {
  if (options.gpu) return { gpu: options.gpu, isNode: isNodeRuntime() };
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, isNode: false };
  if (isNodeRuntime()) {
    // A variable module name keeps browser bundlers from trying to include Dawn.
    const name = 'webgpu';
    try {
      const dawn = (await import(/* @vite-ignore */ name)) as { create: (flags: string[]) => GPU };
      dawnGpu ??= dawn.create([]);
      return { gpu: dawnGpu, isNode: true };
    } catch (cause) {
      throw new WebGPUUnavailableError(`Node has no WebGPU: the 'webgpu' package failed to load`, { cause });
    }
  }
  throw new WebGPUUnavailableError('this browser has no WebGPU (navigator.gpu is missing; a secure context is required)');
}

function looksCpuBacked(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software|warp|cpu/.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
}

/**
 * Opens a WebGPU device in the browser (`navigator.gpu`) or in Node (the `webgpu` package; set
 * `VK_ICD_FILENAMES` to a Vulkan driver such as SwiftShader's on machines without a GPU).
 *
 * @example
 * const device = await createDevice();
 * console.log(device.info.description, device.info.features);
 */
export async function createDevice(options: DeviceOptions = {}): Promise<FlapDevice> {
  const cap = options.maxStorageBufferBindingSize;
  if (cap !== undefined && !(Number.isInteger(cap) && cap >= 4 && cap % 4 === 0)) {
    throw new InputError('maxStorageBufferBindingSize', `must be a positive multiple of 4 bytes (got ${cap})`);
  }
  const { gpu, isNode } = await resolveGpu(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new WebGPUUnavailableError('no WebGPU adapter is available');

  const disabled = new Set(options.disableFeatures ?? []);
  const wanted: OptionalFeature[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const a = adapter.limits;
  const requiredLimits: Record<string, number> = options.limits === 'default' ? {} : {
    maxBufferSize: a.maxBufferSize,
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupSizeZ: a.maxComputeWorkgroupSizeZ,
    maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
  };
  let gpuDevice: GPUDevice;
  try {
    gpuDevice = await adapter.requestDevice({ label: options.label ?? 'flap', requiredFeatures, requiredLimits });
  } catch (cause) {
    throw new WebGPUUnavailableError(`requestDevice failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const ai = adapter.info;
  const d = gpuDevice.limits;
  const has = (f: OptionalFeature) => gpuDevice.features.has(f);
  const info: DeviceInfo = {
    vendor: ai.vendor,
    architecture: ai.architecture,
    device: ai.device,
    description: ai.description,
    isCpuBacked: looksCpuBacked(ai),
    isNode,
    features: { shaderF16: has('shader-f16'), subgroups: has('subgroups'), timestampQuery: has('timestamp-query') },
    subgroupMinSize: options.subgroupSizes?.min ?? (ai as { subgroupMinSize?: number }).subgroupMinSize,
    subgroupMaxSize: options.subgroupSizes?.max ?? (ai as { subgroupMaxSize?: number }).subgroupMaxSize,
    limits: {
      maxBufferSize: d.maxBufferSize,
      maxStorageBufferBindingSize: Math.min(d.maxStorageBufferBindingSize, options.maxStorageBufferBindingSize ?? Infinity),
      maxStorageBuffersPerShaderStage: d.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: d.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: d.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: d.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: d.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupSizeZ: d.maxComputeWorkgroupSizeZ,
      maxComputeWorkgroupsPerDimension: d.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: d.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: d.minUniformBufferOffsetAlignment,
    },
  };
  return new FlapDevice(gpuDevice, info, options.label ?? 'flap');
}

/**
 * The runtime's device: owns the GPU device, the buffer pool, the pipeline cache, the shared command
 * encoder and the statistics. Work is recorded by `run` and submitted in batches; `read` is the only way
 * data comes back, and it is async.
 */
export class FlapDevice {
  readonly stats: RuntimeStats = emptyStats();
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;

  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private batchOps: string[] = [];
  private readonly scopes: Set<Tensor>[] = [];
  private lostInfo: GPUDeviceLostInfo | undefined;
  private destroyed = false;
  private readonly errors: Error[] = [];
  /** Error scopes popped but not yet answered (`settled()` awaits them). */
  private readonly scopeChecks = new Set<Promise<void>>();
  /** Bytes the pool freed when allocations failed (see `retryOnOutOfMemory`). */
  private freedOnFailure = 0;
  private profiler: Profiler | undefined;
  private readonly owned = new Map<GPUBuffer | GPUTexture | GPUQuerySet, number>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private readonly layoutIds = new WeakMap<GPUBindGroupLayout, number>();
  private nextId = 0;

  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformData = new ArrayBuffer(UNIFORM_ARENA_BYTES);
  private readonly uniformView = new DataView(this.uniformData);
  private uniformUsed = 0;

  constructor(
    readonly gpu: GPUDevice,
    readonly info: DeviceInfo,
    readonly label: string,
  ) {
    this.pool = new BufferPool(gpu, this.stats, info.limits.maxBufferSize, (failure) => this.outOfMemory(failure));
    this.pipelines = new PipelineCache(gpu, this.stats, (e) => this.errors.push(e));
    this.uniformBuffer = this.createBuffer({
      label: `${label}:uniforms`,
      size: UNIFORM_ARENA_BYTES,
      usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
    });
    gpu.lost.then((lost) => {
      this.lostInfo = lost;
    });
    gpu.addEventListener?.('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.errors.push(new GpuValidationError(this.describeBatch(), e.message));
    });
  }

  // ---------------------------------------------------------------- tensors

  /**
   * A new tensor, optionally filled from `data` (f32 values, or raw f16 bits as `Uint16Array` for `f16`).
   * Created inside `scope()`, it is released when the scope ends unless returned or kept. `label` names it in GPU
   * messages and in an `OutOfMemoryError`.
   *
   * Out of memory: WebGPU answers whether an allocation succeeded only later, so a tensor the GPU had no memory
   * for is reported by the next `read` or `sync`, as an `OutOfMemoryError` naming it, ahead of the errors its
   * use caused; the pool's cached buffers are freed at once. `retryOnOutOfMemory` runs work a second time.
   */
  tensor(shape: readonly number[], dtype: DType = 'f32', data?: ArrayLike<number> | Uint16Array, label?: string): Tensor {
    return this.allocate(shape, dtype, data, label, false);
  }

  /**
   * A long-lived tensor such as a weight: like `tensor`, but in a buffer of exactly its size (pool buckets round
   * up to a third) whose memory goes back to the GPU, not to the pool, when released.
   */
  weight(shape: readonly number[], dtype: DType, data: ArrayLike<number> | Uint16Array, label?: string): Tensor {
    return this.allocate(shape, dtype, data, label, true);
  }

  private allocate(shape: readonly number[], dtype: DType, data: ArrayLike<number> | Uint16Array | undefined, label: string | undefined, exact: boolean): Tensor {
    // Only a destroyed device refuses here: on a lost one the op about to use this tensor reports the loss.
    if (this.destroyed) throw new UseAfterFreeError('the device was destroyed; cannot create a tensor');
    checkShape(shape);
    const n = numel(shape);
    if (data && data.length !== n) throw new ShapeError(`${data.length} values for a tensor of shape [${shape.join(', ')}]`);
    const bytes = Math.max(4, Math.ceil((n * bytesPerElement[dtype]) / 4) * 4);
    if (bytes > this.info.limits.maxBufferSize) {
      throw new LimitExceededError(`a tensor of ${bytes} bytes exceeds this device's maxBufferSize (${this.info.limits.maxBufferSize})`);
    }
    const name = `tensor [${shape.join(', ')}] ${dtype}${label ? ` "${label}"` : ''}`;
    const buffer = this.pool.acquire(bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, name, exact);
    const storage: Storage = { buffer, refs: 0, free: () => this.pool.release(buffer) };
    const t = new Tensor(this, storage, [...shape], dtype);
    if (data) this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the CPU. Pending work is submitted first so it sees the old values. */
  write(t: Tensor, data: ArrayLike<number> | Uint16Array): void {
    this.assertUsable('write');
    t.assertAlive('write');
    if (data.length !== t.size) throw new ShapeError(`write: ${data.length} values for a tensor of ${t.size}`);
    if (this.batchOps.length) this.flush();
    let bytes: Uint8Array;
    if (t.dtype === 'f32') {
      const f = data instanceof Float32Array ? data : Float32Array.from(data);
      bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    } else {
      const h = data instanceof Uint16Array ? data : f32ArrayToF16(data);
      bytes = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      bytes = padded;
    }
    if (bytes.byteLength) this.gpu.queue.writeBuffer(t.buffer, t.byteOffset, bytes);
  }

  /** Reads a tensor back as f32. The only point where the CPU waits for the GPU. */
  async read(t: Tensor): Promise<Float32Array> {
    this.assertUsable('read');
    t.assertAlive('read');
    this.flush();
    const size = t.bindingSize;
    const staging = this.createBuffer({ label: 'readback', size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const encoder = this.gpu.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, size);
    this.gpu.queue.submit([encoder.finish()]);
    this.stats.submits++;
    this.pool.onSubmit();
    try {
      await staging.mapAsync(MapMode.READ);
    } catch (cause) {
      this.destroyResource(staging);
      await this.settleLoss();
      this.assertUsable('read');
      await this.settled();
      this.throwPendingErrors();
      throw new GpuValidationError('read', cause instanceof Error ? cause.message : String(cause));
    }
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    this.destroyResource(staging);
    this.stats.readbacks++;
    await this.settled();
    this.throwPendingErrors();
    return t.dtype === 'f32' ? new Float32Array(copy, 0, t.size) : f16ArrayToF32(new Uint16Array(copy, 0, t.size));
  }

  // ---------------------------------------------------------------- scopes

  /**
   * Runs `fn`; every tensor created inside and not returned (or kept) is released when it ends, even on
   * throw. Returned tensors (directly, or inside arrays and plain objects) move to the enclosing scope.
   */
  scope<T>(fn: () => T): T {
    const live = new Set<Tensor>();
    this.scopes.push(live);
    let result: T;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
    }
    this.closeScope(live, result);
    return result;
  }

  /** `scope` for async work. Async scopes on one device must not interleave (await one before the next). */
  async scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
    const live = new Set<Tensor>();
    this.scopes.push(live);
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      this.scopes.splice(this.scopes.indexOf(live), 1);
      this.closeScope(live, undefined);
      throw e;
    }
    this.scopes.splice(this.scopes.indexOf(live), 1);
    this.closeScope(live, result);
    return result;
  }

  track(t: Tensor): void {
    this.scopes[this.scopes.length - 1]?.add(t);
  }

  untrack(t: Tensor): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i]!.delete(t)) return;
  }

  private closeScope(live: Set<Tensor>, result: unknown): void {
    const kept = new Set<Tensor>();
    collectTensors(result, kept, 0);
    for (const t of live) {
      if (kept.has(t)) continue;
      live.delete(t);
      t.release();
    }
    for (const t of kept) if (live.has(t)) this.track(t);
  }

  // ---------------------------------------------------------------- kernels

  /** Compiles a kernel specialisation ahead of use (call while weights load). */
  prepare(def: KernelDef<any>, spec: Spec): Promise<CompiledKernel> {
    this.assertUsable('prepare');
    return this.pipelines.prepare(def, spec);
  }

  /** Records one dispatch of `def` specialised by `spec`. Submits when the batch is full. */
  run<U extends Record<string, UniformType>>(def: KernelDef<U>, spec: Spec, args: RunArgs<U>): void {
    const kernel = this.pipelines.get(def, spec);
    this.assertUsable(kernel.key);
    if (args.inputs.length !== kernel.inputs || args.outputs.length !== kernel.outputs) {
      throw new LimitExceededError(`${kernel.key}: expects ${kernel.inputs} inputs and ${kernel.outputs} outputs`);
    }
    const [x, y = 1, z = 1] = args.workgroups;
    const maxGroups = this.info.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxGroups || y > maxGroups || z > maxGroups) {
      throw new LimitExceededError(`${kernel.key}: dispatch [${x}, ${y}, ${z}] exceeds ${maxGroups} workgroups per dimension`);
    }
    const started = performance.now();
    const slotSize = Math.ceil(def.uniforms.size / 256) * 256;
    if (this.uniformUsed + slotSize > UNIFORM_ARENA_BYTES) this.flush();
    const slot = this.uniformUsed;
    this.uniformUsed += slotSize;
    def.uniforms.write(this.uniformView, slot, args.uniforms);

    const bindGroup = this.bindGroup(kernel, def.uniforms.size, [...args.inputs, ...args.outputs]);

    const timed = this.profiler?.usesTimestamps;
    if (timed && this.profiler!.full) this.flush();
    const cpuStart = this.profiler ? performance.now() : 0;
    if (!this.pass || timed) {
      this.endPass();
      this.encoder ??= this.gpu.createCommandEncoder({ label: this.label });
      this.pass = this.encoder.beginComputePass(timed ? this.profiler!.passFor(kernel.key, this.label) : { label: this.label });
    }
    this.pass.setPipeline(kernel.pipeline);
    this.pass.setBindGroup(0, bindGroup, [slot]);
    this.pass.dispatchWorkgroups(x, y, z);
    if (this.profiler && !timed) this.profiler.recordCpu(kernel.key, performance.now() - cpuStart);
    this.stats.dispatches++;
    this.stats.encodeMs += performance.now() - started;
    this.batchOps.push(kernel.key);
    if (this.batchOps.length >= flags.submitBatch) this.flush();
  }

  /**
   * The bind group of a dispatch: the same buffers, offsets and sizes under the same layout give the same group
   * (the uniform is bound at a dynamic offset), so a denoising loop, whose pool hands the same buffers to the same
   * ops every step, creates its groups once. Keys name buffers by an id that is never reused, so a group of a
   * destroyed buffer is never found again; the cache is emptied when it grows past BIND_GROUP_CACHE.
   */
  private bindGroup(kernel: CompiledKernel, uniformSize: number, tensors: readonly Tensor[]): GPUBindGroup {
    const maxBinding = this.info.limits.maxStorageBufferBindingSize;
    let key = `${this.layoutIds.get(kernel.layout) ?? this.idOf(this.layoutIds, kernel.layout)}|${uniformSize}`;
    tensors.forEach((t, i) => {
      if (t.bindingSize > maxBinding) {
        throw new LimitExceededError(
          `${kernel.key}: its input or output ${i} (tensor [${t.shape.join(', ')}] ${t.dtype}) is ${t.bindingSize} bytes, over this device's maxStorageBufferBindingSize (${maxBinding}); a smaller batch, frame size or clip length fits`,
        );
      }
      key += `|${this.bufferIds.get(t.buffer) ?? this.idOf(this.bufferIds, t.buffer)}:${t.byteOffset}:${t.bindingSize}`;
    });
    let group = this.bindGroups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer, offset: 0, size: uniformSize } }];
      tensors.forEach((t, i) => entries.push({ binding: 1 + i, resource: { buffer: t.buffer, offset: t.byteOffset, size: t.bindingSize } }));
      if (flags.validate) this.gpu.pushErrorScope('validation');
      group = this.gpu.createBindGroup({ label: kernel.key, layout: kernel.layout, entries });
      if (flags.validate) this.catchScope(kernel.key);
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.clear();
      this.bindGroups.set(key, group);
      this.stats.bindGroupsCreated++;
    }
    return group;
  }

  private idOf<T extends object>(ids: WeakMap<T, number>, object: T): number {
    const id = this.nextId++;
    ids.set(object, id);
    return id;
  }

  /** Records a buffer copy between tensors (same byte length). */
  copy(src: Tensor, dst: Tensor): void {
    this.assertUsable('copy');
    if (src.byteLength !== dst.byteLength) throw new LimitExceededError(`copy: ${src.byteLength} bytes into ${dst.byteLength}`);
    this.endPass();
    this.encoder ??= this.gpu.createCommandEncoder({ label: this.label });
    this.encoder.copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, src.bindingSize);
    this.batchOps.push('copy');
  }

  /**
   * Records work that is not one of the runtime's kernels (a renderer's compute and render passes, texture
   * copies) on the shared command stream, in order with the kernels around it. `counts` says what `record`
   * adds, for the statistics.
   */
  encode(label: string, record: (encoder: GPUCommandEncoder) => void, counts: { dispatches?: number; renderPasses?: number } = {}): void {
    this.assertUsable(label);
    this.endPass();
    this.encoder ??= this.gpu.createCommandEncoder({ label: this.label });
    record(this.encoder);
    this.stats.dispatches += counts.dispatches ?? 0;
    this.stats.renderPasses += counts.renderPasses ?? 0;
    this.batchOps.push(label);
  }

  /**
   * A GPU buffer or texture outside the pool (uniforms, readback staging, a renderer's index buffer and
   * targets), counted in the statistics like pooled memory until `destroyResource` frees it. Every GPU
   * allocation of the runtime goes through the pool or these.
   */
  createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer {
    this.assertUsable('createBuffer');
    const buffer = this.gpu.createBuffer(descriptor);
    this.own(buffer, descriptor.size);
    return buffer;
  }

  /** See `createBuffer`; `bytes` is the texture's size in memory (texels × bytes per texel × samples). */
  createTexture(descriptor: GPUTextureDescriptor, bytes: number): GPUTexture {
    this.assertUsable('createTexture');
    const texture = this.gpu.createTexture(descriptor);
    this.own(texture, bytes);
    return texture;
  }

  /** See `createBuffer`: a query set (8 bytes a query). */
  createQuerySet(descriptor: GPUQuerySetDescriptor): GPUQuerySet {
    this.assertUsable('createQuerySet');
    const set = this.gpu.createQuerySet(descriptor);
    this.own(set, 8 * descriptor.count);
    return set;
  }

  destroyResource(resource: GPUBuffer | GPUTexture | GPUQuerySet): void {
    const bytes = this.owned.get(resource);
    if (bytes === undefined) throw new Error('destroyResource: not created by this device');
    this.owned.delete(resource);
    this.stats.bytesInUse -= bytes;
    this.stats.bytesAllocated -= bytes;
    resource.destroy();
  }

  private own(resource: GPUBuffer | GPUTexture | GPUQuerySet, bytes: number): void {
    this.owned.set(resource, bytes);
    this.stats.buffersCreated++;
    this.stats.bytesAllocated += bytes;
    this.stats.bytesInUse += bytes;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    this.stats.largestBufferBytes = Math.max(this.stats.largestBufferBytes, bytes);
  }

  /** Submits everything recorded so far. Cheap when nothing is pending. */
  flush(): void {
    if (!this.encoder) {
      // Nothing unsubmitted can use a parked buffer: it may be reused (or, if its allocation failed, destroyed).
      this.pool.onSubmit();
      return;
    }
    this.assertUsable(this.describeBatch());
    this.endPass();
    this.profiler?.resolve(this.encoder);
    if (this.uniformUsed) this.gpu.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData, 0, this.uniformUsed);
    const ops = this.describeBatch();
    this.gpu.pushErrorScope('validation');
    this.gpu.queue.submit([this.encoder.finish()]);
    this.catchScope(ops);
    this.encoder = undefined;
    this.uniformUsed = 0;
    this.batchOps = [];
    this.stats.submits++;
    this.pool.onSubmit();
  }

  /** Submits pending work, waits until the GPU has finished it, and throws any GPU error it raised. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.queue.onSubmittedWorkDone();
    await this.settleLoss(0);
    this.assertUsable('sync');
    await this.settled();
    this.throwPendingErrors();
  }

  /**
   * Frees the buffer pool's cached buffers (released, held by no tensor) and returns their bytes: memory for
   * other work or other pages, at the cost of allocating again. The runtime trims by itself when an
   * allocation fails.
   */
  trim(): number {
    return this.pool.trim();
  }

  /**
   * Runs `fn`, and once more if it failed with `OutOfMemoryError` while the pool held cached buffers to free
   * (and `canRetry()` agrees, e.g. nothing was handed to the caller yet): the pool is trimmed, the GPU's errors
   * from the failed attempt are collected and dropped, and `fn` starts again. A second failure, or a failure
   * with nothing to free, is thrown.
   */
  async retryOnOutOfMemory<T>(fn: () => Promise<T>, canRetry: () => boolean = () => true): Promise<T> {
    const freedBefore = this.freedOnFailure;
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof OutOfMemoryError) || !canRetry() || this.isLost) throw e;
      // A failed allocation trimmed the pool already: what it freed then, and now, is what a second attempt gains.
      const freed = this.freedOnFailure - freedBefore + this.pool.trim();
      if (freed === 0) throw e;
      this.flush(); // what the failed attempt released is parked until a submit
      await this.gpu.queue.onSubmittedWorkDone();
      await this.settled();
      this.errors.length = 0;
      return fn();
    }
  }

  /**
   * Runs `fn` with per-op timing (GPU timestamps where the adapter has `timestamp-query`, else the CPU time to
   * encode each op) and returns its result with the report. Profiling puts each dispatch in its own pass, so
   * it measures ops, not the fastest way to run them.
   */
  async profile<T>(fn: () => Promise<T> | T): Promise<{ result: T; report: ProfileReport }> {
    if (this.profiler) throw new FlapError('PROFILE_NESTED', 'profile() calls cannot nest');
    this.flush();
    const profiler = new Profiler(this);
    this.profiler = profiler;
    try {
      const result = await fn();
      await this.sync();
      return { result, report: await profiler.report() };
    } finally {
      this.profiler = undefined;
    }
  }

  /** Resets the peak-memory mark to the current use (for measuring one phase). */
  resetPeak(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
  }

  /** Frees every GPU resource. The device cannot be used afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const r of [...this.owned.keys()]) this.destroyResource(r); // the uniform arena among them
    this.pool.destroyAll();
    this.gpu.destroy();
  }

  get isLost(): boolean {
    return this.lostInfo !== undefined;
  }

  // ---------------------------------------------------------------- errors

  private assertUsable(operation: string): void {
    if (this.lostInfo) {
      throw new DeviceLostError(operation, this.lostInfo.reason ?? 'unknown', this.lostInfo.message);
    }
    if (this.destroyed) throw new UseAfterFreeError(`the device was destroyed; cannot ${operation}`);
  }

  /** Gives the `lost` promise a moment to settle after a failure, so we report loss rather than a symptom. */
  private async settleLoss(ms = 1000): Promise<void> {
    if (this.lostInfo) return;
    await Promise.race([this.gpu.lost, new Promise((r) => setTimeout(r, ms))]);
  }

  private catchScope(operation: string): void {
    const check = this.gpu.popErrorScope().then(
      (e) => {
        if (e) this.errors.push(new GpuValidationError(operation, e.message));
      },
      () => undefined,
    );
    this.scopeChecks.add(check);
    void check.finally(() => this.scopeChecks.delete(check));
  }

  /** Resolves once every error scope and allocation check opened so far has been answered. */
  private async settled(): Promise<void> {
    await this.pool.settled();
    while (this.scopeChecks.size) await Promise.all([...this.scopeChecks]);
  }

  /** An allocation failed: it is reported ahead of the validation errors that using the buffer caused. */
  private outOfMemory(failure: AllocationFailure): void {
    this.freedOnFailure += failure.freed;
    const error = new OutOfMemoryError(failure.label, failure.bytes, failure.message);
    const firstOther = this.errors.findIndex((e) => !(e instanceof OutOfMemoryError));
    this.errors.splice(firstOther < 0 ? this.errors.length : firstOther, 0, error);
  }

  private throwPendingErrors(): void {
    const e = this.errors.shift();
    if (e) {
      this.errors.length = 0;
      throw e;
    }
  }

  private describeBatch(): string {
    const ops = this.batchOps;
    if (!ops.length) return 'idle device';
    const shown = ops.slice(-6).join(', ');
    return `batch of ${ops.length} ops (… ${shown})`;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) collectTensors(v, out, depth + 1);
  }
}

