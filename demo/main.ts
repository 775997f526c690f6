// The demo page: portrait + speech (bundled samples until the user picks files or records), every control as a
// slider with the 3-D head and the coefficient curves following each change at once (before any generation), the
// settings kept in the address, progress and cancel, frames drawn as they stream, a player and a download.
import {
  applyControls, axisAngleToEuler, CoefficientSequence, COEFFS, DeviceLostError, encodeVideo, FlapError, HeadRenderer, loadFlap, neutralCoefficients,
  type Controls, type Flap, type Frame,
} from '../src/index';
import { defaultModel } from './model';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const progress = $<HTMLProgressElement>('progress');
const go = $<HTMLButtonElement>('go');
const cancel = $<HTMLButtonElement>('cancel');
const reload = $<HTMLButtonElement>('reload');
let image: Blob | undefined;
let audio: Blob | undefined;
let drive: Blob | undefined;
let flap: Flap | undefined;
let abort: AbortController | undefined;
let headAsset = '/models/flap-mini/head_asset.safetensors';
let reloading = false;
const events = { progress: 0, previews: 0, drawing: false };
(window as unknown as { flapDemo: unknown }).flapDemo = events;

/** How long the controls' preview runs (the curves' width before a video exists). */
const PREVIEW_SECONDS = 4;
/** Settings kept in the address: control id → default value. */
const SETTINGS: Record<string, string> = {
  yaw: '0', pitch: '0', roll: '0', amplitude: '1', preset: '', keyframes: '', blinks: 'auto', blinkRate: '15', intensity: '1', smile: '0',
  sampler: '', steps: '4', seed: '0',
};

function setState(state: string, text: string, cls = '') {
  document.body.dataset.state = state;
  status.className = cls;
  status.textContent = text;
}

const input = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id);
const num = (id: string) => Number(input(id).value);

function controls(): Controls {
  const c: Controls = { pose: {}, blinks: {}, expression: {} };
  const keys = input('keyframes').value.trim();
  if (keys) {
    c.pose!.mode = 'keyframes';
    c.pose!.keyframes = keys.split(';').filter((s) => s.trim()).map((s) => {
      const [t, rest = ''] = s.split(':');
      const [yaw, pitch, roll] = rest.split(',').map(Number);
      return { t: Number(t), yaw, pitch, roll };
    });
  }
  c.pose!.offset = { yaw: num('yaw'), pitch: num('pitch'), roll: num('roll') };
  c.pose!.amplitude = num('amplitude');
  const preset = input('preset').value;
  if (preset) c.pose!.presets = [{ name: preset as 'nod' }];
  c.blinks = { mode: input('blinks').value as 'auto', ratePerMinute: num('blinkRate') };
  c.expression = { intensity: num('intensity') };
  if (num('smile') !== 0) c.expression.edits = [{ index: 0, keyframes: [{ t: 0, value: num('smile') }], mode: 'add' }];
  return c;
}

/** The address's query for the current settings (defaults left out), other parameters (model, auto) kept. */
function saveSettings() {
  const params = new URLSearchParams(location.search);
  for (const [id, fallback] of Object.entries(SETTINGS)) {
    const v = input(id).value;
    if (v === fallback) params.delete(id);
    else params.set(id, v);
  }
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
}

function loadSettings(params: URLSearchParams) {
  for (const id of Object.keys(SETTINGS)) {
    const v = params.get(id);
    if (v !== null) input(id).value = v;
  }
}

function showValues() {
  for (const out of document.querySelectorAll<HTMLOutputElement>('output[for]')) out.value = (input(out.htmlFor.value) as HTMLInputElement).value;
}

function plot(seq: CoefficientSequence) {
  const canvas = $<HTMLCanvasElement>('plot');
  const g = canvas.getContext('2d')!;
  const { width, height } = canvas;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, width, height);
  g.strokeStyle = '#eee';
  g.beginPath();
  g.moveTo(0, height / 2);
  g.lineTo(width, height / 2);
  g.stroke();
  const frames = seq.frames;
  const euler = (f: number) => axisAngleToEuler(seq.get(f, 'global_rot'));
  const series: [string, (f: number) => number, number][] = [
    ['#c00', (f) => euler(f)[0], 30],
    ['#080', (f) => euler(f)[1], 30],
    ['#00c', (f) => euler(f)[2], 30],
    ['#a0a', (f) => seq.get(f, 'jaw')[0]!, 0.5],
    ['#888', (f) => seq.get(f, 'eyelids')[0]!, 1],
    ['#e80', (f) => seq.get(f, 'expression')[0]!, 2],
  ];
  for (const [colour, value, range] of series) {
    g.strokeStyle = colour;
    g.lineWidth = 1.5;
    g.beginPath();
    for (let f = 0; f < frames; f++) {
      const x = (f / Math.max(1, frames - 1)) * (width - 2) + 1;
      const y = height / 2 - (Math.max(-1, Math.min(1, value(f) / range))) * (height / 2 - 4);
      if (f) g.lineTo(x, y);
      else g.moveTo(x, y);
    }
    g.stroke();
  }
  g.fillStyle = '#444';
  g.fillText(`${(frames / seq.fps).toFixed(1)} s`, width - 36, height - 4);
}

function draw(frame: Frame) {
  const canvas = $<HTMLCanvasElement>('live');
  const tmp = new OffscreenCanvas(frame.width, frame.height);
  tmp.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(frame.rgba), frame.width, frame.height), 0, 0);
  const g = canvas.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

/** A video's frames at `fps` (seeking an off-screen <video>), at most `max`, as 128×128 ImageData. */
async function videoFrames(file: Blob, fps: number, max = 1500): Promise<ImageData[]> {
  const video = document.createElement('video');
  video.muted = true;
  video.src = URL.createObjectURL(file);
  try {
    await new Promise((ok, fail) => {
      video.onloadeddata = ok;
      video.onerror = () => fail(new Error('the driving video cannot be decoded by this browser'));
    });
    const canvas = new OffscreenCanvas(128, 128);
    const g = canvas.getContext('2d', { willReadFrequently: true })!;
    const side = Math.min(video.videoWidth, video.videoHeight);
    const frames: ImageData[] = [];
    for (let t = 0; t < video.duration && frames.length < max; t += 1 / fps) {
      video.currentTime = t;
      await new Promise((ok) => (video.onseeked = ok));
      g.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, 128, 128);
      frames.push(g.getImageData(0, 0, 128, 128));
    }
    return frames;
  } finally {
    URL.revokeObjectURL(video.src);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The 3-D head: the controls' preview (any change redraws it at once), or the generated video in step with the player.

let head: HeadRenderer | undefined;
/** The portrait's own coefficients (the model's estimator), or a neutral face: what the controls edit. */
let reference = neutralCoefficients();
let preview: CoefficientSequence | undefined;
let generated: CoefficientSequence | undefined;
/** The frame waiting to be drawn (the latest asked for; frames asked for while one renders are skipped). */
let pendingHead: Float32Array | undefined;
let drawingHead = false;

/**
 * Draws the head of `seq` at time `t`. The head is rendered offscreen and read back into a 2-D canvas (a WebGPU
 * canvas does not present in every headless or software setup); requests made during a render coalesce.
 */
function drawHead(seq: CoefficientSequence, t: number) {
  if (!head) return;
  pendingHead = seq.frame(Math.min(seq.frames - 1, Math.max(0, Math.round(t * seq.fps)))).slice();
  if (drawingHead) return;
  drawingHead = events.drawing = true;
  void (async () => {
    try {
      const canvas = $<HTMLCanvasElement>('head');
      while (pendingHead && head) {
        const coeffs = pendingHead;
        pendingHead = undefined;
        const pixels = await head.renderPixels(coeffs, canvas.width);
        canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(pixels.buffer as ArrayBuffer), canvas.width, canvas.height), 0, 0);
        events.previews++;
      }
    } catch (e) {
      console.warn(`3-D head: ${(e as Error).message}`);
    } finally {
      drawingHead = events.drawing = false;
    }
  })();
}

/** Recomputes the controls' sequence over PREVIEW_SECONDS from the reference pose and redraws head and curves. */
function updatePreview() {
  showValues();
  saveSettings();
  if (!flap) return;
  const fps = flap.config.video.fps;
  const frames = PREVIEW_SECONDS * fps;
  const base = new Float32Array(frames * COEFFS);
  for (let f = 0; f < frames; f++) base.set(reference, f * COEFFS);
  try {
    preview = applyControls(new CoefficientSequence(base, fps), controls());
  } catch (e) {
    setState('invalid', `${e instanceof FlapError ? e.code : (e as Error).name}: ${(e as Error).message}`, 'bad');
    return;
  }
  if (document.body.dataset.state === 'invalid') setState('ready', 'Ready.');
  generated = undefined;
  $<HTMLInputElement>('t').max = String(PREVIEW_SECONDS);
  $('plotWhat').textContent = `the controls over ${PREVIEW_SECONDS} s, before generating`;
  $('headWhat').textContent = '3-D head of the controls, before generating';
  plot(preview);
  drawHead(preview, num('t'));
}

/** The model's head asset when it has one (guided models), else `url`'s (flap-mini's, for models without). */
async function loadHead(url: string): Promise<void> {
  if (!flap) return;
  let renderer = flap.head;
  if (!renderer) {
    const res = await fetch(url).catch(() => undefined);
    if (!res?.ok || res.headers.get('content-type')?.includes('html')) return;
    renderer = await HeadRenderer.load(flap.device, new Uint8Array(await res.arrayBuffer()));
  }
  await renderer.prepare('rgba8unorm');
  head = renderer;
  $('head3d').hidden = false;
}

/** The reference pose and expression of the portrait (models with an estimator), which the preview starts from. */
async function estimateReference() {
  if (!flap?.model.estimator) return;
  const portrait = image ?? (await (await fetch('/demo/samples/portrait.png')).blob());
  reference = new Float32Array((await flap.estimate(portrait)).frame(0));
}

/** After generating: the head and the curves show the video's coefficients, the head in step with the player. */
function followPlayer(seq: CoefficientSequence) {
  generated = seq;
  plot(seq);
  $('plotWhat').textContent = 'the generated video';
  $('headWhat').textContent = '3-D head of the video, in step with the player';
  const player = $<HTMLVideoElement>('player');
  const time = $<HTMLInputElement>('t');
  time.max = String(seq.frames / seq.fps);
  const drawAt = () => {
    if (!generated) return;
    time.value = String(player.currentTime);
    showValues();
    drawHead(generated, player.currentTime);
  };
  player.ontimeupdate = drawAt;
  player.onseeked = drawAt;
  const tick = () => {
    drawAt();
    if (!player.paused && !player.ended) requestAnimationFrame(tick);
  };
  player.onplay = () => requestAnimationFrame(tick);
  drawAt();
}

// ---------------------------------------------------------------------------------------------------------------

async function generate() {
  if (!flap) return;
  abort = new AbortController();
  go.disabled = true;
  cancel.disabled = false;
  setState('running', 'Generating…');
  const t0 = performance.now();
  try {
    const sampler = input('sampler').value;
    const chosen = controls();
    if (drive) {
      status.textContent = 'Reading the driving video…';
      chosen.external = { sequence: await flap.estimate(await videoFrames(drive, flap.config.video.fps)), mode: 'replace', extend: 'loop' };
    }
    const video = await flap.generate({
      image: image ?? (await (await fetch('/demo/samples/portrait.png')).blob()),
      audio: audio ?? (await (await fetch('/demo/samples/speech.wav')).blob()),
      controls: chosen,
      sampler: sampler ? (sampler as 'ddim') : undefined,
      steps: num('steps'),
      seed: num('seed'),
      signal: abort.signal,
      onProgress: (p) => {
        events.progress++;
        progress.value = p.fraction;
        status.textContent = p.clips ? `${p.stage}: clip ${p.clip! + 1} of ${p.clips}` : `${p.stage}…`;
      },
      onFrame: draw,
    });
    followPlayer(video.coefficients);
    const file = await encodeVideo(video, 'webm');
    const url = URL.createObjectURL(new Blob([file.bytes.slice()], { type: file.mimeType }));
    $<HTMLVideoElement>('player').src = url;
    const a = $<HTMLAnchorElement>('download');
    a.href = url;
    a.download = 'talk.webm';
    a.hidden = false;
    a.textContent = `Download (${(file.bytes.length / 1024).toFixed(0)} kB)`;
    (window as unknown as { flapResult: unknown }).flapResult = { bytes: file.bytes.length, frames: video.frames.length, fps: video.fps, audioSeconds: video.audio.samples.length / video.audio.sampleRate };
    setState('done', `Done: ${video.frames.length} frames in ${((performance.now() - t0) / 1000).toFixed(1)} s; peak GPU memory ${(video.peakBytes / 1e6).toFixed(1)} MB.`, 'ok');
  } catch (e) {
    const err = e as Error;
    if (err.name === 'AbortError') setState('cancelled', 'Cancelled.');
    else if (err instanceof DeviceLostError) offerReload(err.message);
    else setState('error', `${err instanceof FlapError ? err.code : err.name}: ${err.message}`, 'bad');
  } finally {
    go.disabled = !!flap?.isLost;
    cancel.disabled = true;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A lost GPU device (driver reset, GPU reclaimed): say so and load the model again on a new device, inputs kept.

function offerReload(detail: string) {
  go.disabled = true;
  reload.hidden = false;
  $('head3d').hidden = true;
  setState('lost', `The GPU device was lost (${detail}). Reload the model to go on; your inputs stay.`, 'bad');
}

/** Tells the page when this Flap's device is lost, even between generations. */
function watchLoss(current: Flap) {
  void current.device.gpu.lost.then((info) => {
    if (flap === current && !reloading) offerReload(info.message || info.reason);
  });
}

async function reloadModel() {
  if (!flap) return;
  reload.disabled = true;
  reloading = true; // recover() destroys the lost device, which is not news
  setState('loading', 'Reloading the model on a new GPU device…');
  try {
    head = undefined;
    flap = await flap.recover({ onProgress: (p) => (progress.value = p.total ? p.loaded / p.total : 0) });
    watchLoss(flap);
    await loadHead(headAsset).catch((e: Error) => console.warn(`no 3-D preview: ${e.message}`));
    reload.hidden = true;
    go.disabled = false;
    setState('ready', 'Ready again: the model was reloaded on a new GPU device.');
    updatePreview();
  } catch (e) {
    const err = e as Error;
    setState('error', `${err instanceof FlapError ? err.code : err.name}: ${err.message}`, 'bad');
  } finally {
    reloading = false;
    reload.disabled = false;
  }
}

async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const rec = new MediaRecorder(stream);
  const chunks: Blob[] = [];
  rec.ondataavailable = (e) => chunks.push(e.data);
  rec.onstop = () => {
    audio = new Blob(chunks, { type: rec.mimeType });
    stream.getTracks().forEach((t) => t.stop());
    status.textContent = 'Recorded.';
  };
  rec.start();
  status.textContent = 'Recording 4 s…';
  setTimeout(() => rec.stop(), 4000);
}

async function main() {
  const params = new URLSearchParams(location.search);
  loadSettings(params);
  showValues();
  const choice = await defaultModel(params.get('model') ?? 'auto');
  $('model').textContent = `Model: ${choice.name}${choice.trained ? '' : ' — untrained weights for testing the engine; expect noise'}`;
  $<HTMLImageElement>('preview').src = '/demo/samples/portrait.png';
  $<HTMLInputElement>('image').onchange = async (e) => {
    image = (e.target as HTMLInputElement).files?.[0];
    if (!image) return;
    $<HTMLImageElement>('preview').src = URL.createObjectURL(image);
    await estimateReference().catch((err: Error) => setState('error', err.message, 'bad'));
    updatePreview();
  };
  $<HTMLInputElement>('audio').onchange = (e) => (audio = (e.target as HTMLInputElement).files?.[0]);
  $<HTMLInputElement>('drive').onchange = (e) => (drive = (e.target as HTMLInputElement).files?.[0]);
  $('record').onclick = () => record().catch((e: Error) => setState('error', e.message, 'bad'));
  go.onclick = generate;
  cancel.onclick = () => abort?.abort();
  reload.onclick = reloadModel;
  for (const id of Object.keys(SETTINGS)) input(id).addEventListener('input', updatePreview);
  // The time slider scrubs the controls' preview, or the player once a video exists.
  $<HTMLInputElement>('t').addEventListener('input', () => {
    showValues();
    if (generated) $<HTMLVideoElement>('player').currentTime = num('t');
    else if (preview) drawHead(preview, num('t'));
  });

  setState('loading', 'Loading the model…');
  flap = await loadFlap(choice, {
    onProgress: (p) => {
      progress.value = p.total ? p.loaded / p.total : 0;
      status.textContent = p.phase === 'download' ? `Loading the model${p.fromCache ? ' from the browser cache' : ''}…` : 'Uploading the weights to the GPU…';
    },
  });
  watchLoss(flap);
  // The preview needs a head asset: the model's own, or flap-mini's for models drawn without one.
  headAsset = choice.headAsset ?? headAsset;
  await loadHead(headAsset).catch((e: Error) => console.warn(`no 3-D preview: ${e.message}`));
  await estimateReference().catch((e: Error) => console.warn(`no reference estimate: ${e.message}`));
  const info = flap.device.info;
  const table = $<HTMLTableElement>('info');
  const row = (k: string, v: string) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v;
  };
  row('adapter', [info.vendor, info.architecture, info.description].filter(Boolean).join(' / '));
  row('CPU-backed', String(info.isCpuBacked));
  row('features', Object.entries(info.features).map(([k, v]) => `${k}: ${v ? 'yes' : 'no'}`).join(', '));
  progress.value = 0;
  go.disabled = false;
  setState('ready', info.isCpuBacked ? 'Ready. This adapter is a CPU (SwiftShader): a short clip takes minutes.' : 'Ready.');
  updatePreview();
  if (params.has('auto')) void generate();
}

main().catch((e: unknown) => {
  const err = e as Error;
  setState('error', `${err instanceof FlapError ? err.code : err.name}: ${err.message}`, 'bad');
});

