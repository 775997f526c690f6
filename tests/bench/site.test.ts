/**
 * The benchmark page of the built site (`vite build` with the project's config, as `npm run build` runs it), served
 * as plain static files with no COOP/COEP headers (scripts/serve.mjs), in headless Chromium: the smallest run (kernels,
 * set mini, matmul, reps 1).
 *  1. Without the ONNX graphs (a site built where Python was missing): the page says so, runs through its UI, and
 *     the JSON has the bench/results row format with our and TF.js's figures and ORT's missing with the reason.
 *  2. With the one graph it needs (exported here by weights-tools/export_onnx.py into the built site, when Python
 *     and torch exist; otherwise this half is skipped and the test's name says so): through window.__runBench as
 *     bench/run.mjs calls it, ORT's figure too, ONNX Runtime single-threaded, and the page's peer files are exactly
 *     bench/vendor.json's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { build } from 'vite';
import { afterAll, expect, inject, test } from 'vitest';
import { pythonMissing } from '../../bench/prepare.mjs';
import { caseFor } from '../../bench/shapes';
import type { KernelRow, ManifestEntry } from '../../bench/kernels';
import { serve, type Server } from '../../scripts/serve.mjs';

const repo = resolve(import.meta.dirname, '../..');
const vendor = JSON.parse(readFileSync(join(repo, 'bench/vendor.json'), 'utf8')) as { scripts: string[]; files: string[] };
/** The row format: bench/results/kernels.json's first row (an sd15 matmul, a GFLOP/s op like this one). */
const committedRow = (JSON.parse(readFileSync(join(repo, 'bench/results/kernels.json'), 'utf8')) as KernelRow[])[0]!;
const noPython = pythonMissing();
const work = mkdtempSync(join(tmpdir(), 'flap-bench-site-'));
const site = join(work, 'site');
const timings: string[] = [];
let server: Server | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.disconnect();
  await server?.close();
  console.log(`bench site test: ${timings.join(', ')}`);
  rmSync(work, { recursive: true, force: true });
});

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${label} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/** Opens the page and waits until it is ready; collects the paths it requested and any failed request. */
async function open(query: string): Promise<{ page: Page; requested: string[]; failed: string[] }> {
  browser ??= await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 30 * 60 * 1000 });
  const page = await browser.newPage();
  const requested: string[] = [];
  const failed: string[] = [];
  page.on('pageerror', (e) => failed.push(`page error: ${(e as Error).message}`));
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  // A HEAD request's body is never read, which Chromium reports as aborted.
  page.on('requestfailed', (r) => r.method() !== 'HEAD' && failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.url()}: HTTP ${r.status()}`));
  await page.setViewport({ width: 1050, height: 900 });
  await page.goto(`${server!.url}/bench/index.html${query}`, { waitUntil: 'load' });
  await page.waitForFunction('window.__benchReady === true', { timeout: 120_000 });
  return { page, requested, failed };
}

function expectRowFormat(row: KernelRow): void {
  const keys = Object.keys(row).filter((k) => k !== 'errors');
  expect(keys).toEqual(Object.keys(committedRow));
  expect(row).toMatchObject({ set: 'mini', op: 'matmul', shape: { m: 1280, k: 96, n: 96 } });
  expect(row.adapter).toBeTruthy();
  for (const k of ['ms', 'msKernel', 'gflops', 'fractionOfCeiling', 'msTfjs'] as const) expect(row[k], k).toBeGreaterThan(0);
}

test(`[chromium] built site: the benchmark page runs kernels (mini, matmul, reps 1) from static files without COOP/COEP, JSON in bench/results format; ${noPython ? `without the ORT graph (no Python here: ${noPython})` : 'without the ONNX graphs, then with the one it needs'}`, async () => {
  await timed('vite build', () => build({ root: repo, logLevel: 'error', build: { outDir: site, emptyOutDir: true } }));
  for (const f of [...vendor.scripts, ...vendor.files]) expect(existsSync(join(site, 'bench/vendor', f)), f).toBe(true);
  // A site built where Python was missing has no graphs; this checkout's, if it has them, are dropped.
  rmSync(join(site, 'bench/onnx'), { recursive: true, force: true });
  server = await serve({ mounts: { '/': site } });

  // 1. No graphs, through the UI.
  {
    const { page, failed } = await open('?sets=mini&ops=matmul&reps=1');
    expect(await page.$eval('#env-adapter', (e) => e.textContent)).not.toMatch(/none/);
    expect(await page.$eval('#env-kernel-graphs', (e) => e.textContent)).toMatch(/onnx\/kernels\/manifest\.json is not in this build/);
    expect(await page.$eval('#env-threads', (e) => e.textContent)).toMatch(/^1 \(not cross-origin isolated/);
    expect(await page.$eval('input[name="kernel-peer"][value="ort"]', (e) => (e as HTMLInputElement).disabled)).toBe(true);
    expect(await page.$eval('#case-count', (e) => e.textContent)).toBe('1 case');
    await timed('run without graphs', async () => {
      await page.click('#run');
      await page.waitForFunction(() => /^(done|failed|stopped)/.test(document.getElementById('progress-label')!.textContent ?? ''), { timeout: 300_000, polling: 250 });
    });
    expect(await page.$eval('#progress-label', (e) => e.textContent)).toMatch(/^done in/);
    const json = await page.$eval('#json', (e) => (e as HTMLTextAreaElement).value);
    const rows = JSON.parse(json) as KernelRow[];
    expect(json).toBe(JSON.stringify(rows, null, 1) + '\n');
    expect(rows).toHaveLength(1);
    expectRowFormat(rows[0]!);
    expect(rows[0]!.msOrt).toBeNull();
    expect(rows[0]!.errors).toEqual([expect.stringMatching(/^ort: onnx\/kernels\/manifest\.json is not in this build/)]);
    expect(rows[0]!.ratioToBestPeer).toBeCloseTo(rows[0]!.msTfjs! / rows[0]!.ms, 6);
    expect(await page.$$eval('#table tbody tr', (r) => r.length)).toBe(1);
    expect(await page.$$eval('#chart svg rect[height="11"]', (r) => r.length)).toBe(2); // ours and TF.js
    expect(await page.$eval('#chart svg', (e) => e.textContent)).toMatch(/ORT Web \(WebGPU\): not measured/);
    // Copy JSON puts exactly that text on the clipboard.
    await browser!.defaultBrowserContext().overridePermissions(server!.url, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
    await page.click('#copy-json');
    await page.waitForFunction(() => document.getElementById('copy-status')!.textContent !== '', { timeout: 10_000 });
    expect(await page.$eval('#copy-status', (e) => e.textContent)).toBe('JSON copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(json);
    await page.screenshot({ path: join(work, 'bench-no-graphs.png'), fullPage: true });
    // Only what this build lacks was not found.
    expect(failed.filter((f) => !/\/bench\/onnx\/.*: HTTP 404$/.test(f))).toEqual([]);
    await page.close();
  }
  if (noPython) return;

  // 2. The one graph this run needs, exported into the built site as bench/prepare.mjs would (same set name).
  const graphs = join(site, 'bench/onnx/kernels');
  await timed('export one graph', () =>
    execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c',
      "import sys; sys.path.insert(0, 'weights-tools'); import export_onnx as E; E.export_ops(sys.argv[1], [('matmul', E.SHAPE_SETS['mini']['matmul'][0])], sets=['mini'])", graphs],
      { cwd: repo, stdio: 'pipe' }));
  const entry = (JSON.parse(readFileSync(join(graphs, 'manifest.json'), 'utf8')) as { ops: ManifestEntry[] }).ops[0]!;
  const c = caseFor('mini', 'matmul', { m: 1280, k: 96, n: 96 });
  expect({ set: entry.set, op: entry.op, shape: entry.shape, file: entry.file, flops: entry.flops }).toEqual(c);

  const { page, requested, failed } = await open('');
  expect(await page.$eval('#env-kernel-graphs', (e) => e.textContent)).toBe('1 graph (1 of the 26 cases)');
  const result = await timed('run with the graph', () =>
    page.evaluate(() => (window as unknown as { __runBench: (s: string, o: unknown) => Promise<{ rows: KernelRow[]; markdown: string; error?: string }> }).__runBench('kernels', { reps: 1, sets: ['mini'], ops: ['matmul'] })));
  expect(result.error).toBeUndefined();
  expect(result.rows).toHaveLength(1);
  const row = result.rows[0]!;
  expectRowFormat(row);
  expect(row.errors).toBeUndefined();
  expect(row.msOrt).toBeGreaterThan(0);
  expect(row.ratioToBestPeer).toBeCloseTo(Math.min(row.msOrt!, row.msTfjs!) / row.ms, 6);
  expect(result.markdown).toMatch(/^# Kernel benchmark\n\nAdapter: /);
  expect(result.markdown).toContain('| mini | matmul | m1280 k96 n96 |');
  expect(await page.$eval('#json', (e) => (e as HTMLTextAreaElement).value)).toBe(JSON.stringify(result.rows, null, 1) + '\n');
  expect(await page.$$eval('#chart svg rect[height="11"]', (r) => r.length)).toBe(3);
  // The page loaded every peer file bench/vendor.json lists (ORT's WASM too), and nothing else from vendor/.
  const loaded = [...new Set(requested.filter((p) => p.startsWith('/bench/vendor/')).map((p) => p.slice('/bench/vendor/'.length)))].sort();
  expect(loaded).toEqual([...vendor.scripts, ...vendor.files].sort());
  await page.screenshot({ path: join(work, 'bench-one-graph.png'), fullPage: true });
  expect(failed.filter((f) => !/\/bench\/onnx\/models\/.*: HTTP 404$/.test(f))).toEqual([]); // the step's files are not here
  await page.close();
});
