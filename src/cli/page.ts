// The command line's page (built to dist/cli/page.js, opened by src/cli/main.ts): it receives the inputs from
// Node, generates in this browser's WebGPU, muxes the video with WebCodecs and hands the bytes back (base64).
// Progress goes out through window.flapProgress.
import { CoefficientSequence, encodeVideo, FlapError, loadFlap, type Controls } from '../index';

export interface RenderRequest {
  /** A model folder's URL, or the URLs of its config and weights. */
  model: string | { config: string; weights: string };
  image?: string; // base64; default: the bundled portrait
  audio?: string; // base64; default: the bundled speech
  controls: Controls & { externalRows?: number[] };
  drive?: string[]; // base64 frames of a driving video (reenactment)
  sampler?: 'ddim' | 'dpmpp_2m';
  steps?: number;
  guidanceScale?: number;
  seed?: number;
  format: 'webm' | 'mp4';
  wantFrames: boolean;
}

export type RenderResult =
  | { ok: false; error: string }
  | {
      ok: true;
      model: string;
      trained: boolean;
      adapter: string;
      steps: number;
      /** From the request to the end; to the model loaded; to the first frame decoded (all in the page). */
      seconds: number;
      loadSeconds: number;
      firstFrameSeconds: number;
      video: string;
      mimeType: string;
      frames: string[];
      fps: number;
      frameCount: number;
      coefficients: number[];
      peakBytes: number;
    };

declare global {
  interface Window {
    flapRender(req: RenderRequest): Promise<RenderResult>;
    flapProgress?(line: string): void;
  }
}

const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}
const CPU_STEPS = 2;
const fetchBytes = async (url: string) => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

async function pngOf(rgba: Uint8ClampedArray, width: number, height: number): Promise<string> {
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  return toBase64(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
}

window.flapRender = async (req) => {
  try {
    const t0 = performance.now();
    // Each run has a fresh browser profile: a cache would only cost a copy of the weights on disk.
    const flap = await loadFlap(req.model, {
      cache: false,
      onProgress: (p) => {
        if (p.phase === 'upload') window.flapProgress?.(JSON.stringify({ stage: 'load', fraction: p.total ? p.loaded / p.total : 0 }));
      },
    });
    // On a CPU-backed adapter (SwiftShader) a step of a real model takes tens of seconds: without an explicit
    // --steps the command line keeps to CPU_STEPS so that the bundled sample finishes in minutes.
    const loadSeconds = (performance.now() - t0) / 1000;
    let firstFrameSeconds = 0;
    const steps = req.steps ?? (flap.device.info.isCpuBacked ? Math.min(CPU_STEPS, flap.config.scheduler.default_steps) : undefined);
    const { externalRows, ...controls } = req.controls;
    if (externalRows) controls.external = { ...(controls.external ?? {}), sequence: new CoefficientSequence(Float32Array.from(externalRows), flap.config.video.fps) };
    if (req.drive) {
      window.flapProgress?.(JSON.stringify({ stage: 'estimate', fraction: 0 }));
      controls.external = { sequence: await flap.estimate(req.drive.map(fromBase64)), mode: 'replace', extend: 'loop' };
    }
    const video = await flap.generate({
      image: req.image ? fromBase64(req.image) : await fetchBytes('/samples/portrait.png'),
      audio: req.audio ? fromBase64(req.audio) : await fetchBytes('/samples/speech.wav'),
      controls,
      sampler: req.sampler,
      steps,
      guidanceScale: req.guidanceScale,
      seed: req.seed,
      onProgress: (p) => window.flapProgress?.(JSON.stringify(p)),
      onFrame: () => {
        firstFrameSeconds ||= (performance.now() - t0) / 1000;
      },
    });
    const file = await encodeVideo(video, req.format);
    const frames = req.wantFrames ? await Promise.all(video.frames.map((f) => pngOf(f.rgba, f.width, f.height))) : [];
    const adapter = flap.device.info;
    const name = flap.config.name;
    flap.dispose();
    return {
      ok: true,
      model: name,
      trained: name !== 'test',
      adapter: [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / '),
      steps: steps ?? flap.config.scheduler.default_steps,
      seconds: (performance.now() - t0) / 1000,
      loadSeconds,
      firstFrameSeconds,
      video: toBase64(file.bytes),
      mimeType: file.mimeType,
      frames,
      fps: video.fps,
      frameCount: video.frames.length,
      coefficients: Array.from(video.coefficients.data),
      peakBytes: video.peakBytes,
    };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: err instanceof FlapError ? `${err.code}: ${err.message}` : `${err.name}: ${err.message}` };
  }
};
document.body.dataset.ready = '1';
