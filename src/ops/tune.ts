/**
 * Variant selection helpers shared by ops: a short autotune that times a few candidate kernels on a
 * representative shape and remembers the winner per adapter and shape class.
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
  const ms: Record<string, number> = {};
  for (const c of candidates) {
    try {
      c.run();
      await device.sync();
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        c.run();
        await device.sync();
        times.push(performance.now() - t0);
      }
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
  return { winner, ms };
}

/** Forgets every tuned choice (tests). */
export function clearTuning(): void {
  winners.clear();
}
