/**
 * `flap-webgpu render`: validates the arguments and input files, then renders in headless Chromium (WebGPU
 * and WebCodecs live there) through demo/render.html on the Vite server that bin/flap-webgpu.mjs started.
 * Progress goes to stderr; the video (and optional PNG frames / coefficients) to the given paths.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launchChromium } from '../../scripts/chromium';
import { parseCoefficients } from '../io/coeffs';
import { parseCliArgs, USAGE } from './args';

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

export async function main(argv: readonly string[], baseUrl: string): Promise<number> {
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
  const read = async (path: string | undefined, what: string) => {
    if (!path) return undefined;
    try {
      return new Uint8Array(await readFile(path));
    } catch (e) {
      throw new Error(`${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const image = await read(options.image, '--image');
  const audio = await read(options.audio, '--audio');
  const coeffBytes = await read(options.coeffsFile, '--coeffs');
  const externalRows = coeffBytes ? Array.from(parseCoefficients(options.coeffsFile!, coeffBytes).data) : undefined;
  const b64 = (b?: Uint8Array) => (b ? Buffer.from(b).toString('base64') : undefined);
  let drive: string[] | undefined;
  try {
    drive = options.drive ? (await driveFrames(options.drive)).map((f) => b64(f)!) : undefined;
  } catch (e) {
    process.stderr.write(`flap-webgpu: ${(e as Error).message}\n`);
    return 2;
  }

  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const started = Date.now();
    const progress = progressWriter(process.stderr.isTTY === true, (text) => process.stderr.write(text));
    await page.exposeFunction('flapProgress', (line: string) => {
      const p = JSON.parse(line) as { stage: string; fraction: number; clip?: number; clips?: number };
      const label = p.clips ? `${p.stage} clip ${p.clip! + 1}/${p.clips}` : p.stage;
      progress(p.fraction, label, `${((Date.now() - started) / 1000).toFixed(0)} s`);
    });
    page.on('pageerror', (err) => process.stderr.write(`\npage error: ${(err as Error).message}\n`));
    await page.goto(`${baseUrl}/demo/render.html`);
    await page.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 120_000 });
    const result = (await page.evaluate(
      (req) => window.flapRender(req as never),
      {
        model: options.model,
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
      },
    )) as { ok: boolean; error?: string; video?: string; frames?: string[]; coefficients?: number[]; model?: string; trained?: boolean; adapter?: string; steps?: number; seconds?: number; frameCount?: number; fps?: number; peakBytes?: number };
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (!result.ok) {
      process.stderr.write(`flap-webgpu: ${result.error}\n`);
      return 1;
    }
    await writeFile(options.out, Buffer.from(result.video!, 'base64'));
    if (options.pngDir) {
      await mkdir(options.pngDir, { recursive: true });
      await Promise.all(result.frames!.map((f, i) => writeFile(join(options.pngDir!, `frame_${String(i).padStart(5, '0')}.png`), Buffer.from(f, 'base64'))));
    }
    if (options.coeffsOut) {
      const rows = [];
      for (let i = 0; i < result.coefficients!.length; i += 120) rows.push(result.coefficients!.slice(i, i + 120));
      await writeFile(options.coeffsOut, JSON.stringify({ fps: result.fps, coefficients: rows }));
    }
    process.stderr.write(
      `wrote ${options.out}: ${result.frameCount} frames at ${result.fps} fps in ${result.seconds!.toFixed(1)} s with ${result.model}, ${result.steps} sampler steps` +
        `${result.trained ? '' : ' (untrained test weights: expect noise)'} on ${result.adapter}; peak GPU memory ${(result.peakBytes! / 1e6).toFixed(1)} MB\n`,
    );
    return 0;
  } finally {
    await browser.close();
  }
}
