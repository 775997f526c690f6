/**
 * Golden fixtures (tests/fixtures/, written by weights-tools/gen_fixtures.py) in Node and in Chromium alike,
 * and the comparison every parity test uses: max |a − b| ≤ tol · max(1, max |b|), with the error logged.
 */
import { readSafetensors, toFloat32 } from '../../src/weights/safetensors';
import { AssertionError } from './assert';
import type { Where } from './cases';

export async function fixtureBytes(name: string, where: Where): Promise<Uint8Array> {
  if (where === 'node') {
    const fs = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs/promises');
    return new Uint8Array(await readFile(new URL(`../fixtures/${name}`, import.meta.url)));
  }
  const res = await fetch(`/tests/fixtures/${name}`);
  if (!res.ok) throw new Error(`fixture ${name}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** A file of the repository by its path from the root (shipped models, say), or undefined when it is not there. */
export async function repoBytes(path: string, where: Where): Promise<Uint8Array | undefined> {
  if (where === 'node') {
    const fs = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs/promises');
    return readFile(new URL(`../../${path}`, import.meta.url)).then((b) => new Uint8Array(b), () => undefined);
  }
  const res = await fetch(`/${path}`);
  // A static server may answer a missing path with its index page.
  return res.ok && !res.headers.get('content-type')?.includes('html') ? new Uint8Array(await res.arrayBuffer()) : undefined;
}

export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
}

/** Every tensor of a fixture file as f32 on the CPU. */
export async function loadFixture(name: string, where: Where): Promise<Map<string, FixtureTensor>> {
  const { tensors } = readSafetensors(await fixtureBytes(name, where));
  return new Map([...tensors].map(([k, t]) => [k, { shape: [...t.shape], data: toFloat32(t.dtype, t.bytes) }]));
}

/** [N, C, ...spatial] → [N, ...spatial, C]. */
export function toChannelsLast(t: FixtureTensor): FixtureTensor {
  const [n, c, ...sp] = t.shape as [number, number, ...number[]];
  const p = sp.reduce((a, b) => a * b, 1);
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let q = 0; q < p; q++) out[(i * p + q) * c + ch] = t.data[(i * c + ch) * p + q]!;
  return { shape: [n, ...sp, c], data: out };
}

/** Asserts parity and returns the log line; `tol` defaults to the 1e-3. */
export function parity(label: string, actual: ArrayLike<number>, expected: FixtureTensor, tol = 1e-3): string {
  if (actual.length !== expected.data.length) throw new AssertionError(`${label}: ${actual.length} values, expected ${expected.data.length} [${expected.shape.join(', ')}]`);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected.data[i]!);
    if (!(e <= maxErr)) maxErr = Number.isNaN(e) ? Infinity : e;
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]!));
  }
  const bound = tol * Math.max(1, maxRef);
  const line = `${label} [${expected.shape.join(', ')}]: max |a - b| = ${maxErr.toExponential(2)} (bound ${bound.toExponential(2)}, max |b| ${maxRef.toPrecision(3)})`;
  if (!(maxErr <= bound)) throw new AssertionError(line);
  return line;
}
