#!/usr/bin/env node
// Weights from a local safetensors file to the GPU in Node, and where the time goes:
//   node bench/weights.mjs FILE [--config sd15] [--reps 3] [--passes read,upload,model]
// Three passes over the same file, each timed end to end (median of --reps): `read` (every tensor's bytes
// from disk, nothing else), `upload` (read and upload as stored, loadToDevice) and `model` (FlapModel.load:
// read, re-lay the convolution weights on the CPU, upload, prepare). MB/s counts the file's tensor bytes.
// Uses the library build (dist/; `npm run build:lib` first). A file the page cache holds reads at memory speed:
// the first rep of `read` shows the cold figure when the cache was dropped before.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { withSwiftShader } from '../scripts/chromium.mjs';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { config: { type: 'string' }, reps: { type: 'string', default: '3' }, passes: { type: 'string', default: 'read,upload,model' } } });
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: node bench/weights.mjs FILE [--config sd15] [--reps 3]\n');
  process.exit(2);
}
Object.assign(process.env, withSwiftShader(process.env));
const lib = await import('../dist/node.js');
const { createDevice, fileSource, FlapModel, loadToDevice, parseConfig, SafetensorsReader } = lib;

const reps = Number(values.reps);
const probe = await SafetensorsReader.open(await fileSource(file));
const configName = values.config ?? probe.header.metadata.config;
if (!configName) throw new Error(`${file}: no --config and no "config" in its metadata`);
const bytes = probe.names.reduce((s, n) => s + probe.info(n).end - probe.info(n).begin, 0);
await probe.close();
const config = parseConfig(JSON.parse(await readFile(new URL(`../weights-tools/configs/${configName}.json`, import.meta.url), 'utf8')));
const device = await createDevice();

async function read() {
  const reader = await SafetensorsReader.open(await fileSource(file));
  for (const n of reader.names) await reader.tensor(n);
  await reader.close();
}
async function upload() {
  const tensors = await loadToDevice(device, await fileSource(file));
  await device.sync();
  for (const t of tensors.values()) t.release();
  device.trim?.();
}
async function model() {
  const source = await fileSource(file);
  const m = await FlapModel.load(device, config, source).finally(() => source.close?.());
  await device.sync();
  m.release();
  device.trim?.();
}

const rows = [];
const passes = { read, upload, model };
for (const name of values.passes.split(',')) {
  const fn = passes[name];
  if (!fn) throw new Error(`unknown pass ${name} (read, upload, model)`);
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  rows.push({ pass: name, seconds: times.map((t) => Number(t.toFixed(2))), medianS: Number(median.toFixed(2)), mbPerS: Number((bytes / 1e6 / median).toFixed(1)) });
}
const adapter = device.info.description || device.info.vendor;
console.log(`${file}: ${(bytes / 1e9).toFixed(3)} GB of tensors (${statSync(file).size} bytes on disk), config ${configName}, adapter ${adapter}`);
for (const r of rows) console.log(`${r.pass.padEnd(7)} median ${r.medianS} s  ${r.mbPerS} MB/s  (runs ${r.seconds.join(', ')} s)`);
console.log(JSON.stringify({ file, bytes, config: configName, adapter, rows }));
device.destroy();
