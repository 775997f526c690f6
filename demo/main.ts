// The demo page: portrait + speech (bundled samples until the user picks files or records), every control,
// progress and cancel, frames drawn as they stream, coefficient curves, a player and a download.
import { axisAngleToEuler, DeviceLostError, encodeVideo, FlapError, HeadRenderer, loadFlap, type Controls, type Flap, type Frame } from '../src/index';
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
let headAsset: string | undefined;
let reloading = false;
const events = { progress: 0 };
(window as unknown as { flapDemo: unknown }).flapDemo = events;

function setState(state: string, text: string, cls = '') {
  document.body.dataset.state = state;
  status.className = cls;
  status.textContent = text;
}

const num = (id: string) => Number($<HTMLInputElement>(id).value);

function controls(): Controls {
  const c: Controls = { pose: {}, blinks: {}, expression: {} };
  const keys = $<HTMLInputElement>('keyframes').value.trim();
  if (keys) {
    c.pose!.mode = 'keyframes';
    c.pose!.keyframes = keys.split(';').filter(Boolean).map((s) => {
      const [t, rest = ''] = s.split(':');
      const [yaw, pitch, roll] = rest.split(',').map(Number);
      return { t: Number(t), yaw, pitch, roll };
    });
  }
  c.pose!.offset = { yaw: num('yaw'), pitch: num('pitch'), roll: num('roll') };
  c.pose!.amplitude = num('amplitude');
  const preset = $<HTMLSelectElement>('preset').value;
  if (preset) c.pose!.presets = [{ name: preset as 'nod' }];
  c.blinks = { mode: $<HTMLSelectElement>('blinks').value as 'auto', ratePerMinute: num('blinkRate') };
  c.expression = { intensity: num('intensity') };
  if (num('smile') !== 0) c.expression.edits = [{ index: 0, keyframes: [{ t: 0, value: num('smile') }], mode: 'add' }];
  return c;
}

function plot(coeffs: Float32Array, fps: number) {
  const canvas = $<HTMLCanvasElement>('plot');
  const g = canvas.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  const frames = coeffs.length / 120;
  const series: [string, (f: number) => number, number][] = [
    ['#c00', (f) => axisAngleToEuler(coeffs.subarray(f * 120, f * 120 + 3))[0], 30],
    ['#080', (f) => axisAngleToEuler(coeffs.subarray(f * 120, f * 120 + 3))[1], 30],
    ['#00c', (f) => axisAngleToEuler(coeffs.subarray(f * 120, f * 120 + 3))[2], 30],
    ['#a0a', (f) => coeffs[f * 120 + 15]!, 0.5],
    ['#888', (f) => coeffs[f * 120 + 18]!, 1],
  ];
  for (const [colour, value, range] of series) {
    g.strokeStyle = colour;
    g.beginPath();
    for (let f = 0; f < frames; f++) {
      const x = (f / Math.max(1, frames - 1)) * canvas.width;
      const y = canvas.height / 2 - (value(f) / range) * (canvas.height / 2 - 4);
      if (f) g.lineTo(x, y);
      else g.moveTo(x, y);
    }
    g.stroke();
  }
  g.fillStyle = '#444';
  g.fillText(`${(frames / fps).toFixed(1)} s`, canvas.width - 36, canvas.height - 4);
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

async function generate() {
  if (!flap) return;
  abort = new AbortController();
  go.disabled = true;
  cancel.disabled = false;
  setState('running', 'Generating…');
  const t0 = performance.now();
  try {
    const sampler = $<HTMLSelectElement>('sampler').value;
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
    plot(video.coefficients.data, video.fps);
    showHead(video.coefficients.data, video.fps);
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

/** The GPU device was lost (driver reset, GPU reclaimed): say so and offer to load the model on a new one. */
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
    flap = await flap.recover({ onProgress: (l, t) => (progress.value = t ? l / t : 0) });
    watchLoss(flap);
    if (headAsset) await loadHead(headAsset).catch((e: Error) => console.warn(`no 3-D preview: ${e.message}`));
    reload.hidden = true;
    go.disabled = false;
    setState('ready', 'Ready again: the model was reloaded on a new GPU device.');
  } catch (e) {
    const err = e as Error;
    setState('error', `${err instanceof FlapError ? err.code : err.name}: ${err.message}`, 'bad');
  } finally {
    reloading = false;
    reload.disabled = false;
  }
}

let head: { renderer: HeadRenderer; context: GPUCanvasContext } | undefined;

/** The 3-D preview beside the player: the model's own head asset (a guided model loaded it), else `url`'s. */
async function loadHead(url: string): Promise<void> {
  if (!flap) return;
  let renderer = flap.head;
  if (!renderer) {
    const res = await fetch(url).catch(() => undefined);
    if (!res?.ok || res.headers.get('content-type')?.includes('html')) return;
    renderer = await HeadRenderer.load(flap.device, new Uint8Array(await res.arrayBuffer()));
  }
  const context = $<HTMLCanvasElement>('head').getContext('webgpu')!;
  const format = navigator.gpu.getPreferredCanvasFormat();
  context.configure({ device: flap.device.gpu, format, alphaMode: 'opaque' });
  await renderer.prepare(format);
  head = { renderer, context };
  $('head3d').hidden = false;
}

/** Draws the coefficients of the player's current frame whenever it moves. */
function showHead(coeffs: Float32Array, fps: number) {
  if (!head) return;
  const { renderer, context } = head;
  const player = $<HTMLVideoElement>('player');
  const frames = coeffs.length / 120;
  const drawAt = () => {
    const f = Math.min(frames - 1, Math.max(0, Math.floor(player.currentTime * fps)));
    renderer.render(coeffs.subarray(f * 120, (f + 1) * 120), context.getCurrentTexture());
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
  const choice = await defaultModel(params.get('model') ?? 'auto');
  if (params.has('steps')) $<HTMLInputElement>('steps').value = params.get('steps')!;
  $('model').textContent = `Model: ${choice.name}${choice.trained ? '' : ' — untrained weights for testing the engine; expect noise'}`;
  $<HTMLImageElement>('preview').src = '/demo/samples/portrait.png';
  $<HTMLInputElement>('image').onchange = (e) => {
    image = (e.target as HTMLInputElement).files?.[0];
    if (image) $<HTMLImageElement>('preview').src = URL.createObjectURL(image);
  };
  $<HTMLInputElement>('audio').onchange = (e) => (audio = (e.target as HTMLInputElement).files?.[0]);
  $<HTMLInputElement>('drive').onchange = (e) => (drive = (e.target as HTMLInputElement).files?.[0]);
  $('record').onclick = () => record().catch((e: Error) => setState('error', e.message, 'bad'));
  go.onclick = generate;
  cancel.onclick = () => abort?.abort();
  reload.onclick = reloadModel;
  setState('loading', 'Loading the model…');
  flap = await loadFlap(choice, { onProgress: (l, t) => (progress.value = t ? l / t : 0) });
  watchLoss(flap);
  headAsset = choice.headAsset;
  if (headAsset) await loadHead(headAsset).catch((e: Error) => console.warn(`no 3-D preview: ${e.message}`));
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
  if (params.has('auto')) void generate();
}

main().catch((e: unknown) => {
  const err = e as Error;
  setState('error', `${err instanceof FlapError ? err.code : err.name}: ${err.message}`, 'bad');
});
