/**
 * `flap-webgpu render`: validates the arguments and input files, then renders in headless Chromium (WebGPU
 * and WebCodecs live there) through the prebuilt page `dist/cli/render.html` (src/cli/page.ts), served with the
 * model and the bundled samples by a small static server in plain Node (scripts/serve.mjs): nothing is compiled
 * at run time, so it runs from the installed package. Progress goes to stderr; the video (and optional PNG
 * frames / coefficients) to the given paths.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launchChromium } from '../../scripts/chromium.mjs';
import { serve } from '../../scripts/serve.mjs';
import { FlapError } from '../errors';
import { parseCoefficients } from '../io/coeffs';
import { parseCliArgs, USAGE } from './args';
import { resolveModel, type ResolvedModel } from './model';
import type { RenderRequest, RenderResult } from './page';

function bar(fraction: number, label: string): string {
  const width = 30;
  const done = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${label.padEnd(28)}`;
}

const FRAME_FILE = /\.(png|jpe?g|webp)$/i;
/** At most a minute of driving video at 25 fps is read. */
const MAX_DRIVE_FRAMES = 1500;

/** The frames of a driving video (extracted at 25 fps by ffmpeg) or of a folder of images, as encoded bytes. */
export async function driveFrames(path: string): Promise<Uint8Array[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new Error(`--drive ${path}: no such file or folder`);
  let dir = path;
  let temp: string | undefined;
  try {
    if (!info.isDirectory()) {
      temp = await mkdtemp(join(tmpdir(), 'flap-drive-'));
      await promisify(execFile)('ffmpeg', ['-loglevel', 'error', '-i', path, '-vf', 'fps=25', '-frames:v', String(MAX_DRIVE_FRAMES), join(temp, '%05d.png')])
        .catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
          throw new Error(e.code === 'ENOENT' ? '--drive needs ffmpeg to read a video (apt-get install ffmpeg), or give a folder of frames' : `--drive ${path}: ffmpeg could not read it: ${(e.stderr ?? e.message).trim()}`);
        });
      dir = temp;
    }
    const names = (await readdir(dir)).filter((n) => FRAME_FILE.test(n)).sort().slice(0, MAX_DRIVE_FRAMES);
    if (names.length === 0) throw new Error(`--drive ${path}: no frames (PNG, JPEG or WebP) found`);
    return await Promise.all(names.map(async (n) => new Uint8Array(await readFile(join(dir, n)))));
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }
}

/**
 * Progress for a terminal (one bar redrawn in place) or for a log (one line each time the stage or clip changes,
 * not hundreds of carriage returns).
 */
export function progressWriter(tty: boolean, write: (text: string) => void): (fraction: number, label: string, elapsed: string) => void {
  let last = '';
  return (fraction, label, elapsed) => {
    if (tty) write(bar(fraction, `${label} ${elapsed}`));
    else if (label !== last) write(`${(fraction * 100).toFixed(0).padStart(3)}% ${label} (${elapsed})\n`);
    last = label;
  };
}

const say = (message: string) => process.stderr.write(`flap-webgpu: ${message}\n`);

/**
 * Runs the command line with `argv` (without `node` and the script); `root` is the package's folder (where
 * `dist/`, `demo/samples/` and, in a checkout, `models/` are). Resolves to the exit code.
 */
export async function main(argv: readonly string[], root: string): Promise<number> {
  let options;
  try {
    options = parseCliArgs(argv);
  } catch (e) {
    process.stderr.write(`flap-webgpu: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const page = join(root, 'dist', 'cli', 'render.html');
  if (!existsSync(page)) {
    say(`the render page ${page} is missing: build it with \`npm run build:lib\` (a checkout) or reinstall the package`);
    return 1;
  }
  let model: ResolvedModel;
  let image: Uint8Array | undefined;
  let audio: Uint8Array | undefined;
  let externalRows: number[] | undefined;
  let drive: string[] | undefined;
  const b64 = (b?: Uint8Array) => (b ? Buffer.from(b).toString('base64') : undefined);
  try {
    model = resolveModel(options.model, root);
    const read = async (path: string | undefined, what: string) => {
      if (!path) return undefined;
      try {
        return new Uint8Array(await readFile(path));
      } catch (e) {
        throw new Error(`${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    image = await read(options.image, '--image');
    audio = await read(options.audio, '--audio');
    const coeffBytes = await read(options.coeffsFile, '--coeffs');
    externalRows = coeffBytes ? Array.from(parseCoefficients(options.coeffsFile!, coeffBytes).data) : undefined;
    drive = options.drive ? (await driveFrames(options.drive)).map((f) => b64(f)!) : undefined;
  } catch (e) {
    say((e as Error).message);
    return 2;
  }

  const server = await serve({
    mounts: { '/': join(root, 'dist'), '/samples/': join(root, 'demo', 'samples'), ...model.mounts },
  });
  let browser;
  try {
    browser = await launchChromium();
  } catch (e) {
    await server.close();
    say((e as Error).message);
    return 1;
  }
  try {
    const tab = await browser.newPage();
    const started = Date.now();
    const progress = progressWriter(process.stderr.isTTY === true, (text) => process.stderr.write(text));
    await tab.exposeFunction('flapProgress', (line: string) => {
      const p = JSON.parse(line) as { stage: string; fraction: number; clip?: number; clips?: number };
      const label = p.clips ? `${p.stage} clip ${p.clip! + 1}/${p.clips}` : p.stage;
      progress(p.fraction, label, `${((Date.now() - started) / 1000).toFixed(0)} s`);
    });
    tab.on('pageerror', (err) => process.stderr.write(`\npage error: ${(err as Error).message}\n`));
    await tab.goto(`${server.url}/cli/render.html`);
    await tab.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 120_000 });
    const request: RenderRequest = {
      model: model.source,
      image: b64(image),
      audio: b64(audio),
      controls: { ...options.controls, externalRows },
      drive,
      sampler: options.sampler,
      steps: options.steps,
      guidanceScale: options.guidanceScale,
      seed: options.seed,
      format: options.format,
      wantFrames: !!options.pngDir,
    };
    const result = (await tab.evaluate((req) => window.flapRender(req), request)) as RenderResult;
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (!result.ok) {
      say(result.error);
      return 1;
    }
    await writeFile(options.out, Buffer.from(result.video, 'base64'));
    if (options.pngDir) {
      await mkdir(options.pngDir, { recursive: true });
      await Promise.all(result.frames.map((f, i) => writeFile(join(options.pngDir!, `frame_${String(i).padStart(5, '0')}.png`), Buffer.from(f, 'base64'))));
    }
    if (options.coeffsOut) {
      const rows = [];
      for (let i = 0; i < result.coefficients.length; i += 120) rows.push(result.coefficients.slice(i, i + 120));
      await writeFile(options.coeffsOut, JSON.stringify({ fps: result.fps, coefficients: rows }));
    }
    process.stderr.write(
      `wrote ${options.out}: ${result.frameCount} frames at ${result.fps} fps in ${result.seconds.toFixed(1)} s (model loaded at ${result.loadSeconds.toFixed(1)} s, first frame at ${result.firstFrameSeconds.toFixed(1)} s) with ${result.model} (${model.label}), ${result.steps} sampler steps` +
        `${result.trained ? '' : ' (untrained test weights: expect noise)'} on ${result.adapter}; peak GPU memory ${(result.peakBytes / 1e6).toFixed(1)} MB\n`,
    );
    return 0;
  } catch (e) {
    say(e instanceof FlapError ? `${e.code}: ${e.message}` : (e as Error).message);
    return 1;
  } finally {
    await browser.close();
    await server.close();
  }
}
