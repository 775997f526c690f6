/**
 * Test bodies that run unchanged in Node (Dawn) and in headless Chromium. A `*.cases.ts` module exports
 * `cases`, a record of named async functions taking a `CaseContext`; its `*.test.ts` sibling registers them
 * in both places with `runEverywhere(import.meta.url)`.
 */
import { createDevice, type DeviceOptions, type FlapDevice } from '../../src/runtime/device';

export type Where = 'node' | 'chromium';

export interface CaseContext {
  /** A device shared by the cases of one file. Leave it usable (do not destroy it). */
  device: FlapDevice;
  where: Where;
  /** Opens a separate device (e.g. with features disabled); the harness destroys it after the case. */
  openDevice(options?: DeviceOptions): Promise<FlapDevice>;
  /** Lines shown in the test output (errors of compared tensors, timings). */
  log(line: string): void;
}

export type Case = (t: CaseContext) => Promise<void> | void;
export type Cases = Record<string, Case>;

export interface CaseResult {
  ok: boolean;
  error?: string;
  logs: string[];
}

/** Runs one case with a fresh log and the per-case devices cleaned up. */
export async function runCase(fn: Case, device: FlapDevice, where: Where): Promise<CaseResult> {
  const logs: string[] = [];
  const opened: FlapDevice[] = [];
  const ctx: CaseContext = {
    device,
    where,
    log: (line) => logs.push(line),
    openDevice: async (options) => {
      const d = await createDevice(options);
      opened.push(d);
      return d;
    },
  };
  try {
    await fn(ctx);
    return { ok: true, logs };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: `${err.name}: ${err.message}\n${err.stack ?? ''}`, logs };
  } finally {
    for (const d of opened) d.destroy();
  }
}
