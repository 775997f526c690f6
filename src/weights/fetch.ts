/**
 * Model files by URL, kept in the browser's Cache Storage so that the second load of a model reads nothing from
 * the network. This layer only fetches: it hands a byte stream (or bytes) to the safetensors loader, which reads
 * and uploads as the bytes arrive.
 *
 * A cached file is keyed by its URL and checked against the server's current version with one HEAD request
 * (no body): the same ETag (or, without ETags, the same size) means the cached copy is used; a different one
 * means the file is downloaded again and replaces it. When the HEAD request fails (offline) the cached copy is
 * used; `revalidate: false` skips the HEAD request altogether (for URLs that never change).
 *
 * Where Cache Storage is missing (Node, an insecure page) or refuses (full, private browsing, blocked), files are
 * fetched as usual and `onWarning` says why; a failing cache is never an error. An `AbortSignal` cancels the
 * download and the stream given to the loader, and nothing partial is cached.
 *
 * @example
 * const file = await openModelFile('https://example.com/models/flap-mini/weights.safetensors', {
 *   onProgress: (p) => console.log(p.fromCache ? 'cache' : 'network', p.loaded, p.total),
 * });
 * const tensors = await loadToDevice(device, file.body);
 */
import { InputError } from '../errors';

/** The Cache Storage name used unless `CacheOptions.name` says otherwise. */
export const MODEL_CACHE = 'flap-webgpu-models';

export interface CacheOptions {
  /** Cache Storage name (default `flap-webgpu-models`). */
  name?: string;
  /** Ask the server (one HEAD request) whether a cached file is current (default true); false trusts the cache. */
  revalidate?: boolean;
}

export interface DownloadProgress {
  url: string;
  /** Bytes of this file read so far (from the network, or from the cache when `fromCache`). */
  loaded: number;
  /** The file's size, or 0 when the server did not say. */
  total: number;
  fromCache: boolean;
}

export interface FetchModelOptions {
  /** Cache Storage use (default true where it exists); false fetches every time. */
  cache?: boolean | CacheOptions;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Told when the cache cannot be used (default: `console.warn`). */
  onWarning?: (message: string) => void;
  /** The input field named by errors (`weights`, `config`, …). */
  field?: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** A `CacheStorage` to use instead of the global `caches`. */
  caches?: CacheStorage;
}

export interface ModelFile {
  /** The absolute URL. */
  url: string;
  /** Size in bytes, when known. */
  size?: number;
  fromCache: boolean;
  /** The bytes; read it once, or cancel it. */
  body: ReadableStream<Uint8Array>;
  /** Settles once a downloaded file is in the cache (true) or could not be cached (false); false when not caching. */
  stored: Promise<boolean>;
}

function absolute(url: string, field: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base).href;
  } catch {
    throw new InputError(field, `${url} is not a URL${base ? '' : ' (relative URLs need a page to resolve against)'}`);
  }
}

function sizeOf(res: Response): number | undefined {
  const n = Number(res.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Same version: equal ETags when both have one, else equal sizes when both have one; else unknown (false). */
function sameVersion(cached: Response, current: Response): boolean {
  const a = cached.headers.get('etag');
  const b = current.headers.get('etag');
  if (a && b) return a === b;
  const sa = sizeOf(cached);
  const sb = sizeOf(current);
  return sa !== undefined && sa === sb;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * `body` passed through: bytes counted for `onBytes`, and an abort of `signal` errors the stream (and cancels
 * the source) at once. Cancelling the result calls `onCancel` first.
 */
function tracked(body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined, onBytes: (n: number) => void, onCancel: (reason: unknown) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let stop: (() => void) | undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (!signal) return;
      stop = () => {
        controller.error(abortError(signal));
        reader.cancel(abortError(signal)).catch(() => undefined);
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (signal?.aborted) return;
        if (done) {
          if (stop) signal!.removeEventListener('abort', stop);
          controller.close();
          return;
        }
        onBytes(value.byteLength);
        controller.enqueue(value);
      } catch (e) {
        if (!signal?.aborted) controller.error(e);
      }
    },
    cancel(reason) {
      if (stop) signal!.removeEventListener('abort', stop);
      onCancel(reason);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function cacheSettings(cache: FetchModelOptions['cache']): { name: string; revalidate: boolean } | undefined {
  if (cache === false) return undefined;
  const o = cache === true || cache === undefined ? {} : cache;
  return { name: o.name ?? MODEL_CACHE, revalidate: o.revalidate ?? true };
}

/** The Cache Storage to use, or undefined (with a warning where a browser should have had one). */
async function openStore(name: string, options: FetchModelOptions, warn: (m: string) => void): Promise<Cache | undefined> {
  const storage = options.caches ?? (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) {
    // Node has no Cache Storage and needs none (files are local); a page without one is an insecure context.
    if (typeof document !== 'undefined') warn('Cache Storage is not available on this page (it needs https or localhost); model files are downloaded on every load');
    return undefined;
  }
  try {
    return await storage.open(name);
  } catch (e) {
    warn(`Cache Storage refused to open "${name}" (${(e as Error).name}: ${(e as Error).message}); model files are downloaded without caching`);
    return undefined;
  }
}

/**
 * Opens a model file by URL: from the cache when it holds the current version, else from the network (and then
 * into the cache while the caller reads it). Rejects with `InputError` naming `field` on an HTTP error.
 */
export async function openModelFile(url: string, options: FetchModelOptions = {}): Promise<ModelFile> {
  const field = options.field ?? 'url';
  const abs = absolute(url, field);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const warn = options.onWarning ?? ((m: string) => console.warn(`flap-webgpu: ${m}`));
  const signal = options.signal;
  signal?.throwIfAborted();
  const settings = /^https?:/.test(abs) ? cacheSettings(options.cache) : undefined;
  const store = settings ? await openStore(settings.name, options, warn) : undefined;
  const report = (loaded: number, total: number, fromCache: boolean) => options.onProgress?.({ url: abs, loaded, total, fromCache });

  if (store) {
    const cached = await store.match(abs).catch(() => undefined);
    if (cached?.body) {
      let current = true;
      if (settings!.revalidate) {
        const head = await doFetch(abs, { method: 'HEAD', cache: 'no-store', signal }).catch((e: unknown) => {
          if (signal?.aborted) throw e;
          return undefined; // offline: the cached copy stands
        });
        current = !head?.ok || sameVersion(cached, head);
      }
      if (current) {
        const total = sizeOf(cached) ?? 0;
        let loaded = 0;
        report(0, total, true);
        const body = tracked(cached.body, signal, (n) => report((loaded += n), total, true), () => undefined);
        return { url: abs, size: sizeOf(cached), fromCache: true, body, stored: Promise.resolve(false) };
      }
      await store.delete(abs).catch(() => undefined);
    }
  }

  // The download stops when the caller aborts or cancels its stream, so a partial file is never cached.
  const own = new AbortController();
  const fetchSignal = signal ? AbortSignal.any([signal, own.signal]) : own.signal;
  let res: Response;
  try {
    res = await doFetch(abs, { signal: fetchSignal, ...(store ? { cache: 'no-store' as const } : {}) });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new InputError(field, `${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new InputError(field, `${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  const total = sizeOf(res) ?? 0;
  let body = res.body;
  let stored = Promise.resolve(false);
  if (store) {
    const [mine, toCache] = body.tee();
    body = mine;
    stored = store.put(abs, new Response(toCache, { status: res.status, statusText: res.statusText, headers: res.headers })).then(
      () => true,
      (e: Error) => {
        if (!fetchSignal.aborted) warn(`could not cache ${url} (${e.name}: ${e.message}); it will be downloaded again next time`);
        return false;
      },
    );
  }
  let loaded = 0;
  report(0, total, false);
  const tracked_ = tracked(body, signal, (n) => report((loaded += n), total, false), (reason) => own.abort(reason));
  return { url: abs, size: sizeOf(res), fromCache: false, body: tracked_, stored };
}

/** A whole model file (a config, a head asset) as bytes, through the same cache as `openModelFile` (and in it on return). */
export async function fetchModelBytes(url: string, options: FetchModelOptions = {}): Promise<Uint8Array> {
  const file = await openModelFile(url, options);
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = file.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    length += value.byteLength;
  }
  await file.stored;
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Deletes every cached model file (or the cache called `name`). Resolves to whether there was one to delete. */
export async function clearModelCache(name = MODEL_CACHE): Promise<boolean> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  return storage ? storage.delete(name) : false;
}
