/**
 * Variant selection helpers shared by ops: a short autotune that times a few candidate kernels on a
 * representative shape and remembers the winner per adapter and shape class. Timing uses GPU timestamps where
 * the device has `timestamp-query`, else the wall clock around a sync. Winners can be exported and imported
 * (`exportTuning` / `importTuning`) and kept in a `TuningStore` (the browser's localStorage, or a file in Node
 * through `fileTuningStore` in ./tune_file), so a page or process tunes an adapter once.
 *
 * @example
 * const result = await autotune(device, 'matmul', 'gemm', [
 *   { name: 'blocked', run: () => matmul(a, b, { variant: { variant: 'blocked' } }).release() },
 *   { name: 'tiled', run: () => matmul(a, b, { variant: { variant: 'tiled' } }).release() },
 * ]);
 * tunedChoice(device.info, 'matmul', 'gemm'); // === result.winner from now on
 */
import type { DeviceInfo, FlapDevice } from '../runtime/device';

export interface TuneCandidate {
  /** How the op names this choice (the op parses it back in its own `selectVariant`). */
  readonly name: string;
  /** Records one run of the op with this choice; the tuner syncs around it. */
  readonly run: () => void;
}

export interface TuneResult {
  readonly winner: string;
  /** Median milliseconds per candidate (Infinity for one that threw). */
  readonly ms: Readonly<Record<string, number>>;
  /** `gpu-timestamps`: summed GPU time of the candidate's dispatches; `wall`: wall clock around a sync. */
  readonly source: 'gpu-timestamps' | 'wall';
}

export interface TuneOptions {
  /** Timed runs per candidate after one untimed warm-up (which also compiles the pipeline). */
  reps?: number;
}

const winners = new Map<string, string>();

/** Identifies an adapter: results measured on one are not reused on another. */
export function adapterKey(info: DeviceInfo): string {
  return [info.vendor, info.architecture, info.device, info.description, info.isCpuBacked ? 'cpu' : 'gpu'].join('|');
}

function cacheKey(info: DeviceInfo, op: string, shapeClass: string): string {
  return `${adapterKey(info)}::${op}::${shapeClass}`;
}

/** The tuned winner for this adapter, op and shape class, if `autotune` set one. */
export function tunedChoice(info: DeviceInfo, op: string, shapeClass: string): string | undefined {
  return winners.get(cacheKey(info, op, shapeClass));
}

/**
 * Times each candidate (`reps` runs each, median, after one warm-up run), records the fastest as the choice
 * for `shapeClass` on this adapter, and returns all timings. A candidate that throws is skipped. Timing
 * waits on `device.sync()`, so it includes submit overhead: use shapes large enough for that not to matter.
 */
export async function autotune(device: FlapDevice, op: string, shapeClass: string, candidates: readonly TuneCandidate[], options: TuneOptions = {}): Promise<TuneResult> {
  const reps = options.reps ?? 3;
  const timestamps = device.info.features.timestampQuery;
  const timeOne = async (run: () => void): Promise<number> => {
    if (timestamps) {
      const { report } = await device.profile(run);
      if (report.source === 'gpu-timestamps') return report.opMs;
    }
    const t0 = performance.now();
    run();
    await device.sync();
    return performance.now() - t0;
  };
  const ms: Record<string, number> = {};
  for (const c of candidates) {
    try {
      c.run();
      await device.sync();
      const times: number[] = [];
      for (let r = 0; r < reps; r++) times.push(await timeOne(c.run));
      times.sort((x, y) => x - y);
      ms[c.name] = times[Math.floor(times.length / 2)]!;
    } catch {
      ms[c.name] = Infinity;
    }
  }
  const ranked = Object.entries(ms).sort((x, y) => x[1] - y[1]);
  const winner = ranked[0]?.[0];
  if (winner === undefined || !Number.isFinite(ranked[0]![1])) {
    throw new Error(`autotune ${op}/${shapeClass}: no candidate ran`);
  }
  winners.set(cacheKey(device.info, op, shapeClass), winner);
  return { winner, ms, source: timestamps ? 'gpu-timestamps' : 'wall' };
}

/** Tuned winners as plain entries (JSON-safe): every adapter's, or only `info`'s. */
export function exportTuning(info?: DeviceInfo): Record<string, string> {
  const prefix = info ? `${adapterKey(info)}::` : '';
  return Object.fromEntries([...winners].filter(([k]) => k.startsWith(prefix)));
}

/** Adds winners from `exportTuning` (a stored copy); malformed entries are ignored. Returns how many were taken. */
export function importTuning(entries: unknown): number {
  if (typeof entries !== 'object' || entries === null) return 0;
  let taken = 0;
  for (const [k, v] of Object.entries(entries)) {
    if (typeof v === 'string' && k.split('::').length === 3) {
      winners.set(k, v);
      taken++;
    }
  }
  return taken;
}

/** Where tuned winners are kept between runs. */
export interface TuningStore {
  load(): Promise<Record<string, string> | undefined>;
  save(entries: Record<string, string>): Promise<void>;
}

/** A store in the browser's localStorage under `key` (nothing is kept where there is no localStorage). */
export function browserTuningStore(key = 'flap-webgpu:tuning'): TuningStore {
  const storage = (): Storage | undefined => (typeof localStorage === 'undefined' ? undefined : localStorage);
  return {
    async load() {
      const text = storage()?.getItem(key);
      try {
        return text ? (JSON.parse(text) as Record<string, string>) : undefined;
      } catch {
        return undefined; // a damaged entry is re-tuned, not fatal
      }
    },
    async save(entries) {
      storage()?.setItem(key, JSON.stringify(entries));
    },
  };
}

/** Whether every shape class is already tuned for this adapter and op. */
export function isTuned(info: DeviceInfo, op: string, shapeClasses: readonly string[]): boolean {
  return shapeClasses.every((c) => winners.has(cacheKey(info, op, c)));
}

/** Deterministic values in [-0.5, 0.5) for the tensors a tuner times candidates on. */
export function tuningData(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 17) / 17 - 0.5);
}

/** Forgets every tuned choice (tests). */
export function clearTuning(): void {
  winners.clear();
}
