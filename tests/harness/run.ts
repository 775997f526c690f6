/**
 * Registers a `*.cases.ts` module's cases with vitest twice: `[node]` on Dawn in this process, and
 * `[chromium]` inside a headless Chromium page served by the global setup's Vite server.
 *
 * @example
 * // tests/runtime/binary.test.ts
 * await runEverywhere(import.meta.url);
 */
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createDevice, type DeviceOptions, type FlapDevice } from '../../src/runtime/device';
import { runCase, type CaseResult, type Cases } from './cases';

declare module 'vitest' {
  export interface ProvidedContext {
    browserWSEndpoint: string;
    baseUrl: string;
  }
}

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface RunOptions {
  /** The cases module, relative to the test file; by default the test file's name with `.cases.ts`. */
  cases?: string;
  /** A suffix for the test names, e.g. `no subgroups`, when one cases module runs under several options. */
  variant?: string;
  /** Options of the shared device (e.g. disabled features). */
  device?: DeviceOptions;
  /** Where to run; both by default. */
  where?: ('node' | 'chromium')[];
  /** Which cases to run, by name (all by default): a variant run leaves out cases its options cannot change. */
  only?: (name: string) => boolean;
}

function report(result: CaseResult): void {
  for (const line of result.logs) console.log(line);
  if (!result.ok) throw new Error(result.error);
}

export async function runEverywhere(testFileUrl: string, options: RunOptions = {}): Promise<void> {
  const casesFile = options.cases
    ? fileURLToPath(new URL(options.cases, testFileUrl))
    : fileURLToPath(testFileUrl).replace(/\.test\.ts$/, '.cases.ts');
  const tag = options.variant ? ` (${options.variant})` : '';
  const rel = path.relative(root, casesFile).split(path.sep).join('/');
  const mod = (await import(/* @vite-ignore */ casesFile)) as { cases: Cases };
  const names = Object.keys(mod.cases).filter(options.only ?? (() => true));
  const where = options.where ?? ['node', 'chromium'];

  if (where.includes('node')) {
    describe(`[node] ${rel}${tag}`, () => {
      let device: FlapDevice;
      beforeAll(async () => {
        device = await createDevice(options.device);
      });
      afterAll(() => device?.destroy());
      for (const name of names) {
        it(`[node] ${name}`, async () => report(await runCase(mod.cases[name]!, device, 'node')));
      }
    });
  }

  if (where.includes('chromium')) {
    describe(`[chromium] ${rel}${tag}`, () => {
      let browser: Browser;
      let page: Page;
      beforeAll(async () => {
        browser = await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 30 * 60 * 1000 });
        page = await browser.newPage();
        page.on('pageerror', (e) => console.error(`[chromium page] ${e instanceof Error ? e.message : String(e)}`));
        await page.goto(`${inject('baseUrl')}/tests/harness/page.html`, { waitUntil: 'load' });
        await page.waitForFunction('window.__flapReady === true', { timeout: 60_000 });
        const opened = await page.evaluate(
          (m: string, o: string) => (window as any).__openCases(m, JSON.parse(o)),
          `/${rel}`,
          JSON.stringify(options.device ?? {}),
        );
        if (opened !== 'ok') throw new Error(`[chromium] could not open ${rel}: ${opened}`);
      });
      afterAll(async () => {
        await page?.evaluate(() => (window as any).__closeCases()).catch(() => undefined);
        await page?.close().catch(() => undefined);
        await browser?.disconnect();
      });
      for (const name of names) {
        it(`[chromium] ${name}`, async () => {
          report(await page.evaluate((n: string) => (window as any).__runCase(n), name));
        });
      }
    });
  }
}
