/**
 * Assertions that work in Node and in the browser page alike (vitest's `expect` is not loaded there).
 * `assertClose` reports like ratchet's all_close: how many elements fail, the mean error and the largest
 * error with its index, so a parity failure says where it is.
 */

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionError(message);
}

export function assertEqual<T>(actual: T, expected: T, what = 'value'): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${what}: expected ${e}, got ${a}`);
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  label?: string;
}

export interface CloseReport {
  failures: number;
  meanAbsError: number;
  maxAbsError: number;
  maxIndex: number;
}

/** Element-wise `|a - b| <= atol + rtol * |b|`; NaN matches only NaN. Returns the error summary. */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): CloseReport {
  const { atol = 1e-5, rtol = 1e-4, label = 'tensor' } = options;
  if (actual.length !== expected.length) {
    throw new AssertionError(`${label}: length ${actual.length}, expected ${expected.length}`);
  }
  let failures = 0;
  let sum = 0;
  let maxAbsError = 0;
  let maxIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (!(Number.isNaN(a) && Number.isNaN(e))) {
        failures++;
        maxAbsError = Infinity;
        maxIndex = i;
      }
      continue;
    }
    const err = a === e ? 0 : Math.abs(a - e);
    sum += err;
    if (err > maxAbsError) {
      maxAbsError = err;
      maxIndex = i;
    }
    if (err > atol + rtol * Math.abs(e)) failures++;
  }
  return { failures, meanAbsError: actual.length ? sum / actual.length : 0, maxAbsError, maxIndex };
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): CloseReport {
  const r = compareClose(actual, expected, options);
  if (r.failures) {
    const { label = 'tensor', atol = 1e-5, rtol = 1e-4 } = options;
    throw new AssertionError(
      `${label}: ${r.failures}/${actual.length} elements off (atol ${atol}, rtol ${rtol}); mean |err| ${r.meanAbsError.toExponential(3)}, ` +
        `max |err| ${r.maxAbsError.toExponential(3)} at [${r.maxIndex}] (got ${actual[r.maxIndex]}, expected ${expected[r.maxIndex]})`,
    );
  }
  return r;
}

/** PSNR in dB of two arrays of the same layout with values in [0, 1]. */
export function psnr(actual: ArrayLike<number>, expected: ArrayLike<number>, from = 0, to = actual.length): number {
  let se = 0;
  for (let i = from; i < to; i++) se += (actual[i]! - expected[i]!) ** 2;
  return 10 * Math.log10((to - from) / se);
}

/** Awaits `fn` and checks that it throws an instance of `type` (and, optionally, that the message matches). */
export async function assertThrows<E extends Error>(fn: () => unknown, type: abstract new (...args: any[]) => E, pattern?: RegExp): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof type)) {
      throw new AssertionError(`expected ${type.name}, got ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? e}`);
    }
    if (pattern && !pattern.test(e.message)) throw new AssertionError(`${type.name} message "${e.message}" does not match ${pattern}`);
    return e;
  }
  throw new AssertionError(`expected ${type.name}, but nothing was thrown`);
}

/** Seeded PRNG (mulberry32): tests are reproducible. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [-1, 1) from `random`. */
export function randomArray(n: number, random: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random() * 2 - 1;
  return a;
}
