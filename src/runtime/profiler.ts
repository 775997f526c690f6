/**
 * Per-op timing. With `timestamp-query`, every dispatch gets its own compute pass whose beginning and end are
 * timestamped on the GPU; the timestamps are resolved at each submit and read once at the end. Without it, only
 * the CPU time spent encoding each op is known, and the report says so.
 */
import type { FlapDevice } from './device';
import { BufferUsage, MapMode } from './gpu_constants';

export interface ProfileRow {
  /** Kernel key (the specialisation). */
  key: string;
  calls: number;
  ms: number;
  /** Fraction of the summed op time. */
  share: number;
}

export interface ProfileReport {
  /** `gpu-timestamps`: GPU time per dispatch; `cpu-encode`: only the CPU time to record each op. */
  source: 'gpu-timestamps' | 'cpu-encode';
  /** Wall-clock time of the profiled region, including the final wait for the GPU. */
  wallMs: number;
  /** Sum of the per-op times. */
  opMs: number;
  rows: ProfileRow[];
}

const SLOTS = 512; // dispatches per submitted batch that can be timestamped

export class Profiler {
  private readonly querySet: GPUQuerySet | undefined;
  private keys: string[] = [];
  private readonly batches: { keys: string[]; resolved: GPUBuffer; buffer: GPUBuffer }[] = [];
  private readonly cpu = new Map<string, { calls: number; ms: number }>();
  private readonly started = performance.now();

  constructor(private readonly device: FlapDevice) {
    if (device.info.features.timestampQuery) {
      this.querySet = device.createQuerySet({ label: 'profiler', type: 'timestamp', count: 2 * SLOTS });
    }
  }

  get usesTimestamps(): boolean {
    return this.querySet !== undefined;
  }

  /** True when the current batch has no free timestamp slot: the device must submit first. */
  get full(): boolean {
    return this.keys.length >= SLOTS;
  }

  /** The descriptor of a one-dispatch pass for `key`, with its timestamp writes. */
  passFor(key: string, label: string): GPUComputePassDescriptor {
    const i = this.keys.length;
    this.keys.push(key);
    return {
      label,
      timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    };
  }

  recordCpu(key: string, ms: number): void {
    const e = this.cpu.get(key) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    this.cpu.set(key, e);
  }

  /** Called before the encoder finishes: resolves this batch's timestamps into a buffer to read later. */
  resolve(encoder: GPUCommandEncoder): void {
    if (!this.querySet || this.keys.length === 0) return;
    const bytes = this.keys.length * 16;
    const resolved = this.device.createBuffer({ label: 'profiler:resolve', size: bytes, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    const readback = this.device.createBuffer({ label: 'profiler:read', size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.keys.length, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
    this.batches.push({ keys: this.keys, resolved, buffer: readback });
    this.keys = [];
  }

  /** Reads every batch's timestamps (after the device has submitted them) and builds the report. */
  async report(): Promise<ProfileReport> {
    const totals = new Map<string, { calls: number; ms: number }>();
    if (this.querySet) {
      for (const { keys, resolved, buffer } of this.batches) {
        await buffer.mapAsync(MapMode.READ);
        const t = new BigUint64Array(buffer.getMappedRange().slice(0));
        buffer.unmap();
        this.device.destroyResource(buffer);
        this.device.destroyResource(resolved);
        keys.forEach((key, i) => {
          const ns = t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) : 0;
          const e = totals.get(key) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += ns / 1e6;
          totals.set(key, e);
        });
      }
      this.device.destroyResource(this.querySet);
    } else {
      for (const [k, v] of this.cpu) totals.set(k, { ...v });
    }
    const opMs = [...totals.values()].reduce((s, e) => s + e.ms, 0);
    const rows = [...totals.entries()]
      .map(([key, e]) => ({ key, calls: e.calls, ms: e.ms, share: opMs ? e.ms / opMs : 0 }))
      .sort((a, b) => b.ms - a.ms);
    return { source: this.querySet ? 'gpu-timestamps' : 'cpu-encode', wallMs: performance.now() - this.started, opMs, rows };
  }
}

/** A fixed-width text table of a report, for logs and benchmarks. */
export function formatProfile(report: ProfileReport, top = 20): string {
  const lines = [`${report.source}: ${report.opMs.toFixed(2)} ms in ops, ${report.wallMs.toFixed(2)} ms wall`];
  for (const r of report.rows.slice(0, top)) {
    lines.push(`${r.ms.toFixed(3).padStart(10)} ms ${(100 * r.share).toFixed(1).padStart(5)}% ${String(r.calls).padStart(5)}x  ${r.key}`);
  }
  return lines.join('\n');
}
