#!/usr/bin/env node
// Records the kernels a model uses on this machine's kind of adapter into its folder's kernels.json, which
// `loadFlap` then compiles while the weights stream (first frame sooner):
//   node scripts/record-kernels.mjs models/flap-mini
// It generates one clip of the bundled speech with the library build (dist/; `npm run build:lib` first).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withSwiftShader } from './chromium.mjs';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/record-kernels.mjs MODEL_DIR\n');
  process.exit(2);
}
Object.assign(process.env, withSwiftShader(process.env));
const { loadFlap, modelFromFolder, prepareAudio } = await import('../dist/node.js');
const source = await modelFromFolder(dir);
delete source.kernels; // record from scratch
const flap = await loadFlap(source);
const { sample_rate: rate, fps, frames_per_clip: frames } = flap.config.video;
const speech = await prepareAudio(new Uint8Array(await readFile('demo/samples/speech.wav')), rate);
// Any portrait runs the same kernels; Node has no image decoder, so a plain grey one.
const { width, height } = flap.config.video;
const image = { data: new Uint8ClampedArray(width * height * 4).fill(128), width, height };
// One clip is enough: every later clip runs the same kernels.
await flap.generate({ image, audio: { samples: speech.subarray(0, Math.ceil((frames / fps) * rate)), sampleRate: rate }, steps: 2 });
const manifest = flap.recordKernels();
await writeFile(join(dir, 'kernels.json'), `${JSON.stringify(manifest, null, 1)}\n`);
console.log(`${join(dir, 'kernels.json')}: ${manifest.kernels.length} kernels (${manifest.adapter} adapter)`);
flap.dispose();
