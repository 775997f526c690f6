/**
 * The package as a user gets it. The package's sources are staged in a temporary folder (so that building does not
 * touch this checkout's dist/ while other tests read it) and `npm pack` builds and packs them (`prepack`); the
 * tarball must stay under 2 MB and hold no model, demo or test. It is installed with `npm install` into a fresh
 * project, and then, with the `test` config's weights and a 0.2 s speech clip (one clip, one sampler step):
 *  (a) a Vite app importing `flap-webgpu` loads the model and generates frames in headless Chromium;
 *  (b) a plain HTML page (no build step) uses `<flap-avatar>` from `flap-webgpu/dist/element.js`: events, frames, a
 *      second load from the browser's cache, a typed error for bad attributes;
 *  (c) Node imports `flap-webgpu` and `flap-webgpu/node`, runs a kernel on Dawn, and TypeScript type-checks a
 *      consumer against the shipped .d.ts;
 *  (d) `npx flap-webgpu render` from the installed package writes a WebM with a video and an audio track.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withSwiftShader } from '../../scripts/chromium.mjs';
import { serve, type Server } from '../../scripts/serve.mjs';

const repo = resolve(import.meta.dirname, '../..');
const MAX_TARBALL = 2 * 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'flap-consumer-'));
const project = join(work, 'project');
const installed = join(project, 'node_modules', 'flap-webgpu');
const model = join(project, 'model');
const timings: string[] = [];

function timed<T>(label: string, fn: () => T): T {
  const t0 = Date.now();
  const done = () => timings.push(`${label} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const result = fn();
  if (result instanceof Promise) return result.finally(done) as T;
  done();
  return result;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

/** 16-bit mono WAV of a voiced-sounding tone. */
function wav(seconds: number, rate = 16000): Uint8Array {
  const n = Math.round(seconds * rate);
  const out = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (at: number, s: string) => [...s].forEach((c, i) => out.setUint8(at + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  out.setUint32(4, 36 + 2 * n, true);
  text(8, 'WAVEfmt ');
  out.setUint32(16, 16, true);
  out.setUint16(20, 1, true);
  out.setUint16(22, 1, true);
  out.setUint32(24, rate, true);
  out.setUint32(28, 2 * rate, true);
  out.setUint16(32, 2, true);
  out.setUint16(34, 16, true);
  text(36, 'data');
  out.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) out.setInt16(44 + 2 * i, Math.round(9000 * Math.sin(i / 7) * Math.sin(i / 300)), true);
  return new Uint8Array(out.buffer);
}

let tarball = '';
let server: Server | undefined;
let browser: Browser | undefined;

beforeAll(() => {
  // Stage what the package is built from, as in a fresh clone (node_modules linked for the build tools).
  const stage = join(work, 'stage');
  timed('stage', () => {
    mkdirSync(join(stage, 'demo'), { recursive: true });
    for (const p of ['package.json', 'README.md', 'tsconfig.json', 'bin', 'scripts', 'src', 'shaders', 'demo/samples']) cpSync(join(repo, p), join(stage, p), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir');
  });
  timed('npm pack', () => run('npm', ['pack', '--pack-destination', work, '--loglevel=warn'], stage));
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'flap-consumer', private: true, type: 'module' }));
  timed('npm install', () => run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project));
  // Node users install Dawn beside the package (an optional peer dependency); link this checkout's.
  symlinkSync(join(repo, 'node_modules', 'webgpu'), join(project, 'node_modules', 'webgpu'), 'dir');
  // The `test` config's model as a user would host it: a folder with config.json and weights.safetensors.
  mkdirSync(model);
  copyFileSync(join(repo, 'weights-tools/configs/test.json'), join(model, 'config.json'));
  copyFileSync(join(repo, 'tests/fixtures/test_weights.safetensors'), join(model, 'weights.safetensors'));
  writeFileSync(join(project, 'speech.wav'), wav(0.2));
}, 300_000);

afterAll(async () => {
  await browser?.disconnect();
  await server?.close();
  console.log(`consumer test: ${timings.join(', ')}`);
  rmSync(work, { recursive: true, force: true });
});

async function openPage(url: string): Promise<Page> {
  browser ??= await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 30 * 60 * 1000 });
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[consumer page] ${(e as Error).message}`));
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

describe('the packed package, installed in a fresh project', () => {
  it('is a tarball under 2 MB with the library, its types and the command line, and no model, demo or test', () => {
    const size = statSync(tarball).size;
    const files = run('tar', ['-tzf', tarball], work).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    console.log(`tarball ${(size / 1024).toFixed(0)} kB packed, ${files.length} files`);
    expect(size).toBeLessThanOrEqual(MAX_TARBALL);
    for (const f of ['dist/index.js', 'dist/element.js', 'dist/node.js', 'dist/cli.js', 'dist/cli/render.html', 'dist/types/index.d.ts', 'bin/flap-webgpu.mjs', 'scripts/serve.mjs', 'scripts/chromium.mjs']) expect(files).toContain(f);
    expect(files.filter((f) => /^(models|tests|weights-tools|src|shaders|bench)\/|\.safetensors$|^demo\/(index|avatar)\.html$/.test(f))).toEqual([]);
    expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
  });

  it('(a) a Vite app importing flap-webgpu loads the test weights and generates frames in headless Chromium', async () => {
    const app = join(project, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>');
    writeFileSync(join(app, 'main.js'), `
import { loadFlap, InputError } from 'flap-webgpu';
window.result = (async () => {
  const phases = new Set();
  const flap = await loadFlap('/model/', { onProgress: (p) => phases.add(p.phase) });
  const image = new Uint8Array(await (await fetch('/portrait.png')).arrayBuffer());
  const audio = new Uint8Array(await (await fetch('/speech.wav')).arrayBuffer());
  let streamed = 0;
  const video = await flap.generate({ image, audio, steps: 1, onFrame: () => streamed++ });
  let refused = '';
  try { await flap.generate({ image, audio, steps: 0 }); } catch (e) { refused = e instanceof InputError ? e.code + ' ' + e.field : String(e); }
  const mean = video.frames[0].rgba.reduce((s, v) => s + v, 0) / video.frames[0].rgba.length;
  flap.dispose();
  return { frames: video.frames.length, streamed, width: video.width, mean, phases: [...phases].sort(), refused };
})().catch((e) => ({ error: e.name + ': ' + e.message }));
`);
    const out = join(app, 'dist');
    await timed('vite build (a)', () => build({ root: app, configFile: false, logLevel: 'warn', build: { outDir: out, emptyOutDir: true } }));
    const site = await serve({ mounts: { '/': out, '/model/': model, '/portrait.png': join(installed, 'demo/samples/portrait.png'), '/speech.wav': join(project, 'speech.wav') } });
    try {
      const page = await openPage(`${site.url}/`);
      const t0 = Date.now();
      const result = await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result);
      timings.push(`(a) generate ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await page.close();
      expect(result).toMatchObject({ frames: 5, streamed: 5, width: 64, phases: ['download', 'upload'], refused: 'INPUT steps' });
      expect((result as { mean: number }).mean).toBeGreaterThan(0);
    } finally {
      await site.close();
    }
  });

  it('(b) <flap-avatar> in a plain page: events, frames, the model from the cache the second time, typed errors', async () => {
    writeFileSync(join(project, 'avatar.html'), `<!doctype html><html><body>
<script type="module" src="/node_modules/flap-webgpu/dist/element.js"></script>
<flap-avatar id="a" model="/model/" portrait="/node_modules/flap-webgpu/demo/samples/portrait.png" audio="/speech.wav" steps="1" controls='{"pose":{"offset":{"yaw":12}}}'></flap-avatar>
<script type="module">
  await customElements.whenDefined('flap-avatar');
  const a = document.getElementById('a');
  const log = { progress: [], frames: 0, done: 0, errors: [] };
  a.addEventListener('progress', (e) => log.progress.push(e.detail));
  a.addEventListener('frame', () => log.frames++);
  a.addEventListener('done', () => log.done++);
  a.addEventListener('error', (e) => log.errors.push(e.detail.error.code + ' ' + e.detail.error.field));
  window.loadAvatar = async () => {
    await a.load();
    return { fromCache: [...new Set(log.progress.filter((p) => p.stage === 'download').map((p) => p.fromCache))], errors: log.errors };
  };
  window.runAvatar = async () => {
    const video = await a.generate();
    const yaw = video.coefficients.data[1];
    const shown = !a.shadowRoot.querySelector('video').hidden && a.shadowRoot.querySelector('video').src.startsWith('blob:');
    a.setAttribute('controls', '{not json');
    await a.generate().catch(() => undefined);
    const downloads = log.progress.filter((p) => p.stage === 'download');
    return { frames: video.frames.length, events: log.frames, done: log.done, errors: log.errors, shown, yaw,
      fromCache: [...new Set(downloads.map((p) => p.fromCache))], stages: [...new Set(log.progress.map((p) => p.stage))] };
  };
  window.avatarReady = true;
</script></body></html>`);
    const site = await serve({ mounts: { '/': project } });
    try {
      const visit = async (what: 'runAvatar' | 'loadAvatar') => {
        const page = await openPage(`${site.url}/avatar.html`);
        await page.waitForFunction('window.avatarReady === true', { timeout: 60_000 });
        const t0 = Date.now();
        const result = await page.evaluate((fn) => (window as unknown as Record<string, () => Promise<unknown>>)[fn]!(), what);
        timings.push(`(b) ${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        await page.close();
        return result;
      };
      const first = await visit('runAvatar');
      expect(first).toMatchObject({ frames: 5, events: 5, done: 1, errors: ['INPUT controls'], shown: true, fromCache: [false] });
      expect((first as { stages: string[] }).stages).toEqual(expect.arrayContaining(['download', 'upload', 'denoise', 'decode', 'done']));
      expect((first as { yaw: number }).yaw).not.toBe(0);
      // The next visit: the model's files come from the browser's cache.
      expect(await visit('loadAvatar')).toEqual({ fromCache: [true], errors: [] });
    } finally {
      await site.close();
    }
  });

  it('(c) Node imports flap-webgpu and flap-webgpu/node and runs a kernel; TypeScript checks a consumer against the .d.ts', () => {
    writeFileSync(join(project, 'kernel.mjs'), `
import { createDevice, add, InputError } from 'flap-webgpu';
import { modelFromFolder, fileSource, InputError as NodeInputError } from 'flap-webgpu/node';
import { FlapAvatar } from 'flap-webgpu/element';
const device = await createDevice();
const y = device.scope(() => add(device.tensor([2, 3], 'f32', [1, 2, 3, 4, 5, 6]), device.tensor([3], 'f32', [10, 20, 30])));
const values = Array.from(await y.read());
const source = await modelFromFolder('model');
const header = typeof source.weights.read === 'function' && source.weights.size > 0;
console.log(JSON.stringify({ values, node: device.info.isNode, header, sameClass: InputError === NodeInputError, element: typeof FlapAvatar, file: typeof fileSource }));
device.destroy();
process.exit(0);
`);
    const out = timed('(c) node', () => run(process.execPath, ['kernel.mjs'], project, withSwiftShader(process.env)));
    const result = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!);
    expect(result).toEqual({ values: [11, 22, 33, 14, 25, 36], node: true, header: true, sameClass: true, element: 'function', file: 'function' });

    writeFileSync(join(project, 'consumer.ts'), `
import { loadFlap, type LoadProgress, type GeneratedVideo, type Controls } from 'flap-webgpu';
import { modelFromFolder } from 'flap-webgpu/node';
import { FlapAvatar, type AvatarProgress } from 'flap-webgpu/element';
const controls: Controls = { pose: { offset: { yaw: 10 } }, blinks: { ratePerMinute: 20 } };
export async function go(el: FlapAvatar): Promise<GeneratedVideo> {
  const flap = await loadFlap(await modelFromFolder('model'), { onProgress: (p: LoadProgress) => void p.phase });
  el.addEventListener('progress', (e) => void e.detail.fraction);
  el.addEventListener('done', (e) => void e.detail.video.frames.length);
  el.addEventListener('click', (e) => void e.clientX);
  const p: AvatarProgress = { stage: 'upload', fraction: 0.5 };
  void p;
  return flap.generate({ image: new Uint8Array(), audio: new Uint8Array(), controls, steps: 1 });
}
// @ts-expect-error: steps is a number
export const wrong = (f: Awaited<ReturnType<typeof loadFlap>>) => f.generate({ image: new Uint8Array(), audio: new Uint8Array(), steps: 'many' });
`);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['consumer.ts'],
    }));
    timed('(c) tsc', () => run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project));
  });

  it('(d) npx flap-webgpu render from the installed package writes a WebM with sound', () => {
    const env = { ...process.env, PATH: `${join(project, 'node_modules', '.bin')}:${process.env.PATH}` };
    const help = run('npx', ['--no-install', 'flap-webgpu', '--help'], project, env);
    expect(help).toContain('--model');
    const missing = spawnSync('npx', ['--no-install', 'flap-webgpu', 'render', '--model', 'model', '--audio', 'speech.wav'], { cwd: project, env: { ...env, FLAP_CHROMIUM: '/nonexistent/chromium' }, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no Chromium at \/nonexistent\/chromium.*FLAP_CHROMIUM/);
    // The package carries no model: without --model it says where models are.
    const noModel = spawnSync('npx', ['--no-install', 'flap-webgpu', 'render', '--audio', 'speech.wav'], { cwd: project, env, encoding: 'utf8' });
    expect(noModel.status).toBe(2);
    expect(noModel.stderr).toMatch(/--model: no model here; models live in the repository \(models\/flap-mini\)/);

    const log = timed('(d) render', () => run('npx', ['--no-install', 'flap-webgpu', 'render', '--model', 'model', '--audio', 'speech.wav', '--steps', '1', '--yaw', '10', '--out', 'talk.webm'], project, env));
    expect(log).toMatch(/wrote talk\.webm: 5 frames at 25 fps/);
    const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name:format=duration', '-of', 'json', join(project, 'talk.webm')], { encoding: 'utf8' });
    const info = JSON.parse(probe) as { streams: { codec_type: string; codec_name: string }[]; format: { duration: string } };
    expect(info.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
    expect(Number(info.format.duration)).toBeGreaterThan(0.15);
    expect(readdirSync(project)).toContain('talk.webm');
  });
});
