#!/usr/bin/env node
// Runs a benchmark suite in headless Chromium: `node bench/run.mjs kernels|unet [--set mini,sd15] [--ops a,b] [--reps 5]`.
// It serves the repository with Vite (scripts/serve.mjs; plus the peers' browser builds from node_modules, byte for byte), opens
// bench/page.html, lets the page time this runtime and its peers side by side in one run, and writes
// bench/results/<suite>.json and <suite>.md. The ONNX graphs come from bench/onnx/make.sh (made here when missing).
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, useSwiftShaderByDefault } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    set: { type: 'string' },
    ops: { type: 'string' },
    reps: { type: 'string', default: '5' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
  },
});
const suite = positionals[0];
if (suite !== 'kernels' && suite !== 'unet') {
  process.stderr.write('usage: node bench/run.mjs kernels|unet [--set mini,sd15] [--ops conv2d3x3,...] [--reps 5] [--out dir]\n');
  process.exit(2);
}
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);

/** Makes the ONNX graphs (and for unet the shared weights file) that the page loads, unless they exist. */
function prepare() {
  const sh = (args, env = {}) => execFileSync('sh', args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (suite === 'kernels') {
    if (!existsSync(join(root, 'bench/onnx/kernels/manifest.json'))) sh(['bench/onnx/make.sh', 'kernels']);
    return;
  }
  const weights = join(root, 'bench/onnx/models/mini/weights.safetensors');
  if (!existsSync(weights)) {
    mkdirSync(dirname(weights), { recursive: true });
    execFileSync('/usr/bin/python3', ['weights-tools/write_weights.py', '--config', 'mini', '--dtype', 'f32', '--out', weights], { cwd: root, stdio: 'inherit' });
  }
  if (!existsSync(join(root, 'bench/onnx/models/mini/manifest.json'))) {
    // 10 frames: the loop's 8 frames with the 2 motion frames in front.
    execFileSync('/usr/bin/python3', ['weights-tools/export_onnx.py', 'model', '--config', 'mini', '--frames', '10', '--parts', 'unet_step',
      '--weights', weights, '--out', 'bench/onnx/models/mini'], { cwd: root, stdio: 'inherit' });
  }
}

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

/** Serves /vendor/<package>/… raw from node_modules (Vite must not rewrite the peers' Emscripten glue). */
function vendor(req, res, next) {
  const url = new URL(req.url ?? '/', 'http://x');
  if (!url.pathname.startsWith('/vendor/')) return next();
  const file = join(root, 'node_modules', decodeURIComponent(url.pathname.slice('/vendor/'.length)));
  if (!file.startsWith(join(root, 'node_modules')) || !existsSync(file) || !statSync(file).isFile()) {
    res.statusCode = 404;
    return res.end();
  }
  res.setHeader('Content-Type', MIME[extname(file)] ?? 'application/octet-stream');
  createReadStream(file).pipe(res);
}

prepare();
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
    await page.goto(`${server.url}/bench/page.html`);
    await page.waitForFunction('window.__benchReady === true', { timeout: 120_000 });
    const t0 = Date.now();
    const result = await page.evaluate((s, o) => window.__runBench(s, o), suite, { reps, sets: values.set?.split(','), ops: values.ops?.split(',') });
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
