import { flags } from '../flags';
import type { RuntimeStats } from './stats';

/**
 * Size-bucketed pool of GPU buffers. A released buffer is parked until the commands recorded so far are
 * submitted (`onSubmit()`), and only then can it be handed out again: a later `queue.writeBuffer` would
 * otherwise land before an unsubmitted command that still reads the old contents.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private parked: GPUBuffer[] = [];
  private readonly sizeOf = new Map<GPUBuffer, number>();

  constructor(
    private readonly device: GPUDevice,
    private readonly stats: RuntimeStats,
    private readonly maxBufferSize: number,
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

  acquire(bytes: number, usage: number, label: string): GPUBuffer {
    // The caller has checked bytes <= maxBufferSize; a bucket may round past it, a buffer may not.
    const size = Math.min(BufferPool.bucket(bytes), this.maxBufferSize);
    const key = `${size}:${usage}`;
    let buffer = flags.noReuse ? undefined : this.free.get(key)?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage, label });
      this.sizeOf.set(buffer, size);
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
      if (flags.noReuse) {
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

  /** Destroys every buffer, free or handed out (the device is going away). */
  destroyAll(): void {
    for (const b of [...this.sizeOf.keys()]) this.destroy(b);
    this.free.clear();
    this.parked = [];
    this.stats.bytesInUse = 0;
  }

  private destroy(buffer: GPUBuffer): void {
    this.stats.bytesAllocated -= this.sizeOf.get(buffer) ?? 0;
    this.sizeOf.delete(buffer);
    buffer.destroy();
  }
}
