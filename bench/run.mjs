#!/usr/bin/env node
// Runs a benchmark suite in headless Chromium: `node bench/run.mjs kernels|unet [--set mini,sd15] [--ops a,b] [--peers ort-wasm] [--reps 5]`.
// It serves the repository with Vite (scripts/serve.mjs; plus the peers' browser builds listed in bench/vendor.json
// from node_modules, byte for byte, under the page's vendor/), opens the benchmark page (bench/index.html, the same
// page the built site carries), lets it time this runtime and its peers side by side in one run, and writes
// bench/results/<suite>.json and <suite>.md. The ONNX graphs come from bench/prepare.mjs (made here when missing).
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, useSwiftShaderByDefault } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';
import { prepare } from './prepare.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    set: { type: 'string' },
    ops: { type: 'string' },
    reps: { type: 'string', default: '5' },
    peers: { type: 'string' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
  },
});
const suite = positionals[0];
if (suite !== 'kernels' && suite !== 'unet') {
  process.stderr.write('usage: node bench/run.mjs kernels|unet [--set mini,sd15] [--ops conv2d3x3,...] [--peers ort,tfjs | ort-webgpu,ort-wasm] [--reps 5] [--out dir]\n');
  process.exit(2);
}
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

const VENDOR = JSON.parse(readFileSync(join(root, 'bench', 'vendor.json'), 'utf8'));
const VENDOR_FILES = new Set([...VENDOR.scripts, ...VENDOR.files]);

/** Serves /bench/vendor/<file> raw from node_modules, for the files bench/vendor.json lists (Vite must not rewrite the peers' Emscripten glue). */
function vendor(req, res, next) {
  const url = new URL(req.url ?? '/', 'http://x');
  if (!url.pathname.startsWith('/bench/vendor/')) return next();
  const name = decodeURIComponent(url.pathname.slice('/bench/vendor/'.length));
  if (!VENDOR_FILES.has(name)) {
    res.statusCode = 404;
    return res.end();
  }
  res.setHeader('Content-Type', MIME[extname(name)] ?? 'application/octet-stream');
  createReadStream(join(root, 'node_modules', name)).pipe(res);
}

prepare([suite]);
useSwiftShaderByDefault();
let code = 1;
let server;
try {
  // The cross-origin isolation headers let ONNX Runtime's WASM backend use threads.
  server = await serve({
    vite: true,
    root,
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    middleware: vendor,
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
    await page.goto(`${server.url}/bench/index.html`);
    await page.waitForFunction('window.__benchReady === true', { timeout: 120_000 });
    const t0 = Date.now();
    const result = await page.evaluate((s, o) => window.__runBench(s, o), suite, { reps, sets: values.set?.split(','), ops: values.ops?.split(','), peers: values.peers?.split(',') });
    if (result.error) throw new Error(result.error);
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, `${suite}.json`), JSON.stringify(result.rows, null, 1) + '\n');
    writeFileSync(join(values.out, `${suite}.md`), result.markdown);
    process.stdout.write(result.markdown);
    process.stderr.write(`bench ${suite}: ${((Date.now() - t0) / 1000).toFixed(0)} s, wrote ${join(values.out, suite)}.{json,md}\n`);
    code = 0;
  } finally {
    await browser.close();
  }
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
} finally {
  await server?.close();
}
process.exit(code);
