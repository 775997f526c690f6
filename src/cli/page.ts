// The command line's page: it receives the inputs from Node, generates in this browser's WebGPU, muxes the
// video with WebCodecs and hands the bytes back (base64). Progress goes out through window.flapProgress.
import { encodeVideo, FlapError, loadFlap, type Controls } from '../src/index';
import { CoefficientSequence } from '../src/controls/layout';
import { defaultModel } from './model';

export interface RenderRequest {
  model: string;
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

declare global {
  interface Window {
    flapRender(req: RenderRequest): Promise<unknown>;
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
const fetchBytes = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());

async function pngOf(rgba: Uint8ClampedArray, width: number, height: number): Promise<string> {
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  return toBase64(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
}

window.flapRender = async (req) => {
  try {
    const choice = await defaultModel(req.model);
    const t0 = performance.now();
    const flap = await loadFlap(choice, {
      onProgress: (loaded, total) => window.flapProgress?.(JSON.stringify({ stage: 'load', fraction: total ? loaded / total : 0 })),
    });
    // On a CPU-backed adapter (SwiftShader) a step of a real model takes tens of seconds: without an explicit
    // --steps the command line keeps to CPU_STEPS so that the bundled sample finishes in minutes.
    const steps = req.steps ?? (flap.device.info.isCpuBacked ? Math.min(CPU_STEPS, flap.config.scheduler.default_steps) : undefined);
    const { externalRows, ...controls } = req.controls;
    if (externalRows) controls.external = { ...(controls.external ?? {}), sequence: new CoefficientSequence(Float32Array.from(externalRows), flap.config.video.fps) };
    if (req.drive) {
      window.flapProgress?.(JSON.stringify({ stage: 'estimate', fraction: 0 }));
      controls.external = { sequence: await flap.estimate(req.drive.map(fromBase64)), mode: 'replace', extend: 'loop' };
    }
    const video = await flap.generate({
      image: req.image ? fromBase64(req.image) : await fetchBytes('/demo/samples/portrait.png'),
      audio: req.audio ? fromBase64(req.audio) : await fetchBytes('/demo/samples/speech.wav'),
      controls,
      sampler: req.sampler,
      steps,
      guidanceScale: req.guidanceScale,
      seed: req.seed,
      onProgress: (p) => window.flapProgress?.(JSON.stringify(p)),
    });
    const file = await encodeVideo(video, req.format);
    const frames = req.wantFrames ? await Promise.all(video.frames.map((f) => pngOf(f.rgba, f.width, f.height))) : [];
    const adapter = flap.device.info;
    flap.dispose();
    return {
      ok: true,
      model: choice.name,
      trained: choice.trained,
      adapter: [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / '),
      steps: steps ?? flap.config.scheduler.default_steps,
      seconds: (performance.now() - t0) / 1000,
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
