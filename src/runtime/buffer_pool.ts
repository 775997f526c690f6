import { flags } from '../flags';
import type { RuntimeStats } from './stats';

/** An allocation the GPU refused for lack of memory: the pool's label for it, its bytes and the GPU's message. */
export interface AllocationFailure {
  label: string;
  bytes: number;
  message: string;
  /** Bytes of cached buffers the pool freed in response. */
  freed: number;
}

/**
 * Size-bucketed pool of GPU buffers. A released buffer is parked until the commands recorded so far are
 * submitted (`onSubmit()`), and only then can it be handed out again: a later `queue.writeBuffer` would
 * otherwise land before an unsubmitted command that still reads the old contents.
 *
 * Out of memory. WebGPU reports a failed allocation only asynchronously, through an error scope, while the
 * (invalid) buffer is already in use; so every new buffer is created inside an `out-of-memory` scope whose
 * answer is awaited by `settled()` (the device's `read` and `sync` await it). A refused buffer is marked failed:
 * the pool frees its cached buffers at once (`trim()`), tells its owner (`onOutOfMemory`), and destroys the
 * buffer when released instead of reusing it.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private parked: GPUBuffer[] = [];
  private readonly sizeOf = new Map<GPUBuffer, number>();
  private readonly failed = new Set<GPUBuffer>();
  /** Buffers made to measure (`exact`): never cached, since no other request has their size. */
  private readonly exact = new Set<GPUBuffer>();
  private readonly checks = new Set<Promise<void>>();

  constructor(
    private readonly device: GPUDevice,
    private readonly stats: RuntimeStats,
    private readonly maxBufferSize: number,
    private readonly onOutOfMemory: (failure: AllocationFailure) => void = () => undefined,
  ) {}

  /**
   * Bucket of a request: powers of two and 1.5× powers of two (at most a third wasted) up to 64 MiB,
   * whole MiB above, and at least 256 bytes (the storage-binding offset alignment).
   */
  static bucket(bytes: number): number {
    const n = Math.max(256, bytes);
    if (n > 64 * 1024 * 1024) return Math.ceil(n / (1024 * 1024)) * 1024 * 1024;
    const p = 2 ** Math.ceil(Math.log2(n));
    return n <= (p * 3) / 4 ? (p * 3) / 4 : p;
  }

  /**
   * A buffer of at least `bytes` (a multiple of 4); `label` names it in GPU messages and in an `AllocationFailure`.
   * With `exact` (long-lived tensors: weights) it is `bytes`, made for the caller and destroyed on release, so
   * the model's memory is its file's size rather than a bucket's.
   */
  acquire(bytes: number, usage: number, label: string, exact = false): GPUBuffer {
    // The caller has checked bytes <= maxBufferSize; a bucket may round past it, a buffer may not.
    const size = exact ? bytes : Math.min(BufferPool.bucket(bytes), this.maxBufferSize);
    const key = `${size}:${usage}`;
    let buffer = flags.noReuse || exact ? undefined : this.free.get(key)?.pop();
    if (!buffer) {
      this.device.pushErrorScope('out-of-memory');
      const created = this.device.createBuffer({ size, usage, label });
      this.watch(created, label, size, this.device.popErrorScope());
      buffer = created;
      this.sizeOf.set(buffer, size);
      if (exact) this.exact.add(buffer);
      this.stats.buffersCreated++;
      this.stats.bytesAllocated += size;
      this.stats.largestBufferBytes = Math.max(this.stats.largestBufferBytes, size);
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buffer;
  }

  /** Returns a buffer; it becomes reusable after the next submit. */
  release(buffer: GPUBuffer): void {
    const size = this.sizeOf.get(buffer);
    if (size === undefined) throw new Error('BufferPool.release: buffer not from this pool');
    this.stats.bytesInUse -= size;
    this.parked.push(buffer);
  }

  /** Called right after `queue.submit`: parked buffers may now be reused. */
  onSubmit(): void {
    for (const buffer of this.parked) {
      if (flags.noReuse || this.failed.has(buffer) || this.exact.has(buffer)) {
        this.destroy(buffer);
        continue;
      }
      const key = `${buffer.size}:${buffer.usage}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buffer);
    }
    this.parked = [];
  }

  /**
   * Destroys the cached buffers (released, submitted, held by no tensor) and returns their bytes. WebGPU frees
   * a destroyed buffer's memory once the work already submitted with it is done, so this is safe at any time.
   */
  trim(): number {
    let freed = 0;
    for (const list of this.free.values()) {
      for (const buffer of list) {
        freed += this.sizeOf.get(buffer) ?? 0;
        this.destroy(buffer);
      }
    }
    this.free.clear();
    return freed;
  }

  /** Resolves once the GPU has answered whether every buffer created so far was really allocated. */
  async settled(): Promise<void> {
    while (this.checks.size) await Promise.all([...this.checks]);
  }

  /** Destroys every buffer, free or handed out (the device is going away). */
  destroyAll(): void {
    for (const b of [...this.sizeOf.keys()]) this.destroy(b);
    this.free.clear();
    this.parked = [];
    this.stats.bytesInUse = 0;
  }

  private watch(buffer: GPUBuffer, label: string, bytes: number, scope: Promise<GPUError | null>): void {
    const check = scope.then(
      (error) => {
        if (!error) return;
        if (this.sizeOf.has(buffer)) this.failed.add(buffer);
        const freed = this.trim();
        this.onOutOfMemory({ label, bytes, message: error.message, freed });
      },
      () => undefined, // a lost device rejects nothing here, but a destroyed one may: loss is reported elsewhere
    );
    this.checks.add(check);
    void check.finally(() => this.checks.delete(check));
  }

  private destroy(buffer: GPUBuffer): void {
    this.stats.bytesAllocated -= this.sizeOf.get(buffer) ?? 0;
    this.sizeOf.delete(buffer);
    this.failed.delete(buffer);
    this.exact.delete(buffer);
    buffer.destroy();
  }
}
