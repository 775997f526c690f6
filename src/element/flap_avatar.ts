/**
 * `<flap-avatar>`: a talking head in any page, with one module script and no build step. Importing this module
 * (`flap-webgpu/element`, `dist/element.js`) defines the element; see `FlapAvatar`.
 */
import type { Controls } from '../controls/controls';
import { DeviceLostError, FlapError, InputError } from '../errors';
import { encodeVideo, loadFlap, type Flap, type Frame, type GeneratedVideo, type ModelSource, type Stage } from '../flap';
import type { SamplerKind } from '../ops/sampler/schedule';

/** The `progress` event's detail: the model's download and upload, then the generation's stages. */
export interface AvatarProgress {
  stage: 'download' | 'upload' | Stage;
  /** 0 … 1 within the model's load (download, upload) or over the whole generation. */
  fraction: number;
  /** `download`: the model files come from the browser's cache. */
  fromCache?: boolean;
  clip?: number;
  clips?: number;
}

/** The element's own events (`addEventListener('progress', (e) => e.detail.fraction)` is typed). */
export interface FlapAvatarEventMap extends Omit<HTMLElementEventMap, 'progress' | 'error'> {
  progress: CustomEvent<AvatarProgress>;
  frame: CustomEvent<Frame>;
  done: CustomEvent<{ video: GeneratedVideo; file: { bytes: Uint8Array; mimeType: string } }>;
  error: CustomEvent<{ error: Error }>;
}

const MODEL_ATTRIBUTES = ['model', 'config', 'weights', 'head-asset', 'no-cache'];
const ATTRIBUTES = [...MODEL_ATTRIBUTES, 'portrait', 'audio', 'controls', 'steps', 'seed', 'sampler', 'guidance', 'autoplay'];

const STYLE = `
:host { display: inline-block; width: 256px; font: 13px/1.4 system-ui, sans-serif; color: #333; }
.view { position: relative; width: 100%; aspect-ratio: 1; background: #111; }
canvas, video { position: absolute; inset: 0; width: 100%; height: 100%; image-rendering: pixelated; }
[hidden] { display: none !important; }
progress { width: 100%; height: 6px; }
.status { min-height: 1.4em; }
.status.error { color: #b00; }
`;

/** A base class that exists outside browsers too, so that importing this module on a server does not throw. */
const Base = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

/**
 * The `<flap-avatar>` element.
 *
 * Attributes (read when `generate()` runs; changing the model's drops the loaded model):
 * - `model`: URL of a model folder (`config.json`, `weights.safetensors`, `head_asset.safetensors`), or the
 *   files one by one with `config`, `weights` and `head-asset`;
 * - `portrait`, `audio`: URLs of the portrait image and the speech;
 * - `controls`: JSON of `Controls` (pose, blinks, gaze, expression), e.g. `{"pose":{"offset":{"yaw":15}}}`;
 * - `steps`, `seed`, `sampler`, `guidance`: sampling; `autoplay`: generate and play once in the page;
 * - `no-cache`: do not keep the model's files in the browser's Cache Storage.
 *
 * Methods: `load()` (the model alone, e.g. while the user picks files), `generate()` (resolves to the
 * `GeneratedVideo`), `play()` (generates when nothing current was, then plays the video with its sound), `cancel()`. Events: `progress` (`detail`: `AvatarProgress`), `frame`
 * (`detail`: a `Frame`, as each is decoded), `done` (`detail`: `{ video, file }`), `error` (`detail`: `{ error }`,
 * a `FlapError` such as `InputError` naming the attribute, or an `AbortError`). Bad attributes are refused before
 * any download. After a `DeviceLostError` the element drops the model: the next `generate()` or `play()` loads it
 * on a new GPU device.
 *
 * @example
 * <script type="module" src="https://unpkg.com/flap-webgpu/dist/element.js"></script>
 * <flap-avatar model="/models/flap-mini/" portrait="face.png" audio="hello.wav" controls='{"pose":{"offset":{"yaw":10}}}'></flap-avatar>
 * <script>document.querySelector('flap-avatar').play();</script>
 */
export class FlapAvatar extends Base {
  static readonly observedAttributes = ATTRIBUTES;

  /** The loaded model, once `generate()` loaded it. */
  flap: Flap | undefined;
  /** The last generated video. */
  video: GeneratedVideo | undefined;

  private loading: { promise: Promise<Flap>; abort: AbortController } | undefined;
  private run: AbortController | undefined;
  private current = false;
  private url: string | undefined;
  private readonly canvas: HTMLCanvasElement;
  private readonly player: HTMLVideoElement;
  private readonly bar: HTMLProgressElement;
  private readonly status: HTMLElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style><div class="view"><canvas part="canvas"></canvas><video part="video" controls playsinline hidden></video></div>` +
      `<progress part="progress" max="1" value="0" hidden></progress><div part="status" class="status"></div>`;
    this.canvas = root.querySelector('canvas')!;
    this.player = root.querySelector('video')!;
    this.bar = root.querySelector('progress')!;
    this.status = root.querySelector('.status')!;
  }

  override addEventListener<K extends keyof FlapAvatarEventMap>(type: K, listener: (this: FlapAvatar, ev: FlapAvatarEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options);
  }

  override removeEventListener<K extends keyof FlapAvatarEventMap>(type: K, listener: (this: FlapAvatar, ev: FlapAvatarEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options);
  }

  connectedCallback(): void {
    if (this.hasAttribute('autoplay') && !this.run) this.play().catch(() => undefined);
  }

  disconnectedCallback(): void {
    this.cancel();
  }

  attributeChangedCallback(name: string, before: string | null, after: string | null): void {
    if (before === after) return;
    this.current = false;
    if (MODEL_ATTRIBUTES.includes(name)) this.dropModel();
  }

  /**
   * Loads the model of the current attributes (once; `generate()` does it when needed), with `progress` events:
   * call it early to have the model ready, from the browser's cache after the first visit.
   */
  async load(): Promise<Flap> {
    try {
      return await this.model();
    } catch (e) {
      const error = e as Error;
      this.setStatus(error instanceof FlapError ? `${error.code}: ${error.message}` : `${error.name}: ${error.message}`, error.name !== 'AbortError');
      this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
      throw e;
    }
  }

  /** Stops a running load or generation (its promise rejects with an `AbortError`). */
  cancel(): void {
    const reason = new DOMException('cancelled', 'AbortError');
    this.run?.abort(reason);
    if (!this.flap) this.loading?.abort.abort(reason);
  }

  /** Generates the video of the current attributes; see the class comment for the events. */
  async generate(): Promise<GeneratedVideo> {
    this.run?.abort(new DOMException('cancelled', 'AbortError'));
    const run = new AbortController();
    this.run = run;
    const { signal } = run;
    try {
      const request = this.request();
      this.setStatus('Loading the model…');
      const flap = await this.model();
      signal.throwIfAborted();
      this.setStatus('Reading the portrait and the speech…');
      const [image, audio] = await Promise.all([fetchBlob(request.portrait, 'portrait', signal), fetchBlob(request.audio, 'audio', signal)]);
      this.player.hidden = true;
      this.canvas.hidden = false;
      const video = await flap.generate({
        image,
        audio,
        controls: request.controls,
        steps: request.steps,
        seed: request.seed,
        sampler: request.sampler,
        guidanceScale: request.guidance,
        signal,
        onProgress: (p) => {
          this.emitProgress({ stage: p.stage, fraction: p.fraction, clip: p.clip, clips: p.clips });
          this.setStatus(p.clips ? `${p.stage}: clip ${p.clip! + 1} of ${p.clips}` : `${p.stage}…`);
        },
        onFrame: (frame) => {
          this.draw(frame);
          this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
        },
      });
      const file = await encodeVideo(video, 'webm');
      signal.throwIfAborted();
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(new Blob([file.bytes.slice()], { type: file.mimeType }));
      this.player.src = this.url;
      this.player.hidden = false;
      this.canvas.hidden = true;
      this.bar.hidden = true;
      this.video = video;
      this.current = true;
      this.setStatus('');
      this.dispatchEvent(new CustomEvent('done', { detail: { video, file } }));
      return video;
    } catch (e) {
      this.bar.hidden = true;
      const error = e as Error;
      // A lost GPU device (driver reset, GPU reclaimed): forget the model, so the next generate() or play() loads it
      // again on a new device, without a page reload.
      const lost = error instanceof DeviceLostError;
      if (lost) this.dropModel();
      const text = lost
        ? `The GPU device was lost (${error.message}); generate again to reload the model.`
        : error.name === 'AbortError' ? 'Cancelled.' : error instanceof FlapError ? `${error.code}: ${error.message}` : `${error.name}: ${error.message}`;
      this.setStatus(text, error.name !== 'AbortError');
      this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
      throw e;
    } finally {
      if (this.run === run) this.run = undefined;
    }
  }

  /** Plays the video with its sound, generating it first unless the attributes are unchanged since the last. */
  async play(): Promise<void> {
    if (!this.current || !this.video) await this.generate();
    try {
      await this.player.play();
    } catch (e) {
      // Browsers refuse to start sound without a click on the page: the player's own controls remain.
      if ((e as Error).name !== 'NotAllowedError') throw e;
      this.setStatus('Press play to hear it.');
    }
  }

  private request() {
    const attr = (name: string) => this.getAttribute(name) ?? undefined;
    const need = (name: string) => {
      const v = attr(name);
      if (!v) throw new InputError(name, `<flap-avatar> needs a ${name} attribute (a URL)`);
      return v;
    };
    const number = (name: string, integer: boolean) => {
      const v = attr(name);
      if (v === undefined) return undefined;
      const x = Number(v);
      if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) throw new InputError(name, `expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
      return x;
    };
    let controls: Controls | undefined;
    const json = attr('controls');
    if (json) {
      try {
        controls = JSON.parse(json) as Controls;
      } catch (e) {
        throw new InputError('controls', `is not JSON (${(e as Error).message})`);
      }
      if (typeof controls !== 'object' || controls === null || Array.isArray(controls)) throw new InputError('controls', 'must be a JSON object');
    }
    const sampler = attr('sampler') as SamplerKind | undefined;
    return { portrait: need('portrait'), audio: need('audio'), controls, steps: number('steps', true), seed: number('seed', true), guidance: number('guidance', false), sampler };
  }

  private modelSource(): ModelSource | string {
    const folder = this.getAttribute('model');
    const config = this.getAttribute('config');
    const weights = this.getAttribute('weights');
    const head = this.getAttribute('head-asset');
    if (config || weights) {
      if (!config || !weights) throw new InputError(config ? 'weights' : 'config', '<flap-avatar> needs both config and weights attributes (or model)');
      return { config, weights, ...(head ? { headAsset: head } : {}) };
    }
    if (!folder) throw new InputError('model', '<flap-avatar> needs a model attribute (the URL of a model folder)');
    return folder;
  }

  /** The model, loading it once; a cancelled or failed load is started again by the next call. */
  private model(): Promise<Flap> {
    if (this.loading && !this.loading.abort.signal.aborted) return this.loading.promise;
    const source = this.modelSource();
    const abort = new AbortController();
    const promise = loadFlap(source, {
      signal: abort.signal,
      cache: !this.hasAttribute('no-cache'),
      onProgress: (p) => this.emitProgress({ stage: p.phase, fraction: p.total ? p.loaded / p.total : 0, fromCache: p.fromCache }),
    }).then((flap) => (this.flap = flap));
    const loading = { promise, abort };
    this.loading = loading;
    promise.catch(() => {
      if (this.loading === loading) this.loading = undefined;
    });
    return promise;
  }

  private dropModel(): void {
    const loading = this.loading;
    this.cancel();
    loading?.abort.abort(new DOMException('the model changed', 'AbortError'));
    this.loading = undefined;
    this.flap = undefined;
    loading?.promise.then((flap) => flap.dispose(), () => undefined);
  }

  private emitProgress(detail: AvatarProgress): void {
    this.bar.hidden = false;
    this.bar.value = detail.fraction;
    this.dispatchEvent(new CustomEvent('progress', { detail }));
  }

  private setStatus(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  private draw(frame: Frame): void {
    if (this.canvas.width !== frame.width || this.canvas.height !== frame.height) {
      this.canvas.width = frame.width;
      this.canvas.height = frame.height;
    }
    this.canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(frame.rgba), frame.width, frame.height), 0, 0);
  }
}

async function fetchBlob(url: string, field: string, signal: AbortSignal): Promise<Blob> {
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new InputError(field, `${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new InputError(field, `${url}: HTTP ${res.status}`);
  return res.blob();
}

/** Defines `<flap-avatar>` (or another tag name) unless it is defined already. */
export function defineFlapAvatar(tag = 'flap-avatar'): void {
  if (typeof customElements !== 'undefined' && !customElements.get(tag)) customElements.define(tag, class extends FlapAvatar {});
}

defineFlapAvatar();

declare global {
  interface HTMLElementTagNameMap {
    'flap-avatar': FlapAvatar;
  }
}
