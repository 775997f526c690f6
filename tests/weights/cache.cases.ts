/**
 * Model files through the browser's Cache Storage (src/weights/fetch.ts) with the `test` config: the second load
 * of a model reads no byte from the network (every `fetch` is counted), download and GPU-upload progress come
 * apart, an AbortSignal cancels either and leaves nothing on the GPU nor half a file in the cache, a file changed
 * on the server is downloaded again, and a cache that refuses or is full only costs a warning. Chromium only:
 * Node has no Cache Storage (there the loader reads files from disk).
 */
import { InputError } from '../../src/errors';
import { Flap, type LoadProgress } from '../../src/flap';
import { fetchModelBytes, openModelFile } from '../../src/weights/fetch';
import { assert, assertEqual, assertThrows } from '../harness/assert';
import type { Cases } from '../harness/cases';

const CONFIG = '/weights-tools/configs/test.json';
const WEIGHTS = '/tests/fixtures/test_weights.safetensors';
const WEIGHTS_BYTES = 3_342_348;

interface Traffic {
  gets: string[];
  heads: string[];
  /** Body bytes of every GET answer read by the page. */
  bytes: number;
}

/** Counts every fetch of the page (method, URL, body bytes) until `restore()`. */
function countFetches(): { traffic: Traffic; restore(): void } {
  const real = globalThis.fetch;
  const traffic: Traffic = { gets: [], heads: [], bytes: 0 };
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const method = (init?.method ?? 'GET').toUpperCase();
    (method === 'HEAD' ? traffic.heads : traffic.gets).push(new URL(url, location.href).pathname);
    const res = await real(input, init);
    if (method === 'HEAD' || !res.body) return res;
    const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        traffic.bytes += chunk.byteLength;
        c.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { traffic, restore: () => (globalThis.fetch = real) };
}

const cacheName = (what: string) => `flap-test-${what}-${Math.random().toString(36).slice(2)}`;

export const cases: Cases = {
  'a second load reads no network bytes; download and upload progress come apart': async ({ device, log }) => {
    const name = cacheName('second-load');
    const before = device.stats.bytesInUse;
    const load = async (revalidate: boolean) => {
      const events: LoadProgress[] = [];
      const { traffic, restore } = countFetches();
      try {
        const flap = await Flap.load({ config: CONFIG, weights: WEIGHTS }, { device, cache: { name, revalidate }, onProgress: (p) => events.push({ ...p }), onWarning: (m) => log(`warning: ${m}`) });
        flap.dispose();
      } finally {
        restore();
      }
      return { traffic, events };
    };
    try {
      const first = await load(true);
      assertEqual(first.traffic.gets, [CONFIG, WEIGHTS], 'first load: GET requests');
      assert(first.traffic.bytes > WEIGHTS_BYTES, `first load read ${first.traffic.bytes} bytes`);
      const downloads = first.events.filter((e) => e.phase === 'download' && e.url?.endsWith(WEIGHTS));
      const uploads = first.events.filter((e) => e.phase === 'upload');
      assert(downloads.length > 2 && downloads.every((e) => e.fromCache === false), 'first load: weights download progress, from the network');
      assertEqual([downloads.at(-1)!.loaded, downloads.at(-1)!.total], [WEIGHTS_BYTES, WEIGHTS_BYTES], 'first load: last download event');
      assert(uploads.length > 2 && uploads.at(-1)!.loaded === uploads.at(-1)!.total && uploads.at(-1)!.total > 0, 'first load: upload progress reaches its total');
      // The upload follows the download: it never reports more than has arrived.
      let downloaded = 0;
      for (const e of first.events) {
        if (e.phase === 'download' && e.url?.endsWith(WEIGHTS)) downloaded = e.loaded;
        if (e.phase === 'upload') assert(e.loaded <= downloaded, `uploaded ${e.loaded} bytes with ${downloaded} downloaded`);
      }

      const second = await load(true);
      assertEqual(second.traffic.gets, [], 'second load: GET requests');
      assertEqual(second.traffic.bytes, 0, 'second load: body bytes from the network');
      assertEqual(second.traffic.heads, [CONFIG, WEIGHTS], 'second load: HEAD requests (version checks, no body)');
      const cached = second.events.filter((e) => e.phase === 'download');
      assert(cached.length > 0 && cached.every((e) => e.fromCache === true), 'second load: every file from the cache');
      assertEqual(second.events.filter((e) => e.phase === 'upload').at(-1)!.loaded, uploads.at(-1)!.loaded, 'second load: bytes uploaded');

      const trusted = await load(false);
      assertEqual([trusted.traffic.gets.length, trusted.traffic.heads.length, trusted.traffic.bytes], [0, 0, 0], 'revalidate: false: requests and bytes');
      log(`first load: ${first.traffic.gets.length} GETs, ${first.traffic.bytes} bytes; second: ${second.traffic.heads.length} HEADs, 0 bytes; revalidate false: no request`);
      assertEqual(device.stats.bytesInUse, before, 'GPU bytes after dispose');
    } finally {
      await caches.delete(name);
    }
  },

  'a file changed on the server is downloaded again': async () => {
    const name = cacheName('changed');
    try {
      const first = await fetchModelBytes(CONFIG, { cache: { name } });
      // The server now answers HEAD with another ETag: the cached copy is stale.
      const { traffic, restore } = countFetches();
      const moved: typeof fetch = async (input, init) =>
        init?.method === 'HEAD' ? new Response(null, { status: 200, headers: { etag: '"another-version"', 'content-length': '1' } }) : fetch(input, init);
      let file;
      try {
        file = await openModelFile(CONFIG, { cache: { name }, fetch: moved });
        assert(!file.fromCache, 'a stale copy was used');
        await new Response(file.body).arrayBuffer();
      } finally {
        restore();
      }
      assertEqual(traffic.gets, [CONFIG], 'GET after a changed ETag');
      assertEqual(traffic.bytes, first.length, 'bytes downloaded again');
      assert(await file.stored, 'the new copy was not cached');
    } finally {
      await caches.delete(name);
    }
  },

  'an AbortSignal cancels the download and the upload, leaving nothing on the GPU or in the cache': async ({ device }) => {
    const name = cacheName('abort');
    const before = device.stats.bytesInUse;
    try {
      // During the download: the first chunk of weights aborts.
      const duringDownload = new AbortController();
      const e1 = await assertThrows(() => Flap.load({ config: CONFIG, weights: WEIGHTS }, {
        device,
        cache: { name },
        signal: duringDownload.signal,
        onProgress: (p) => {
          if (p.phase === 'download' && p.url?.endsWith(WEIGHTS) && p.loaded > 0) duringDownload.abort();
        },
      }), Error);
      assertEqual(e1.name, 'AbortError', 'error of an abort during the download');
      assertEqual(device.stats.bytesInUse, before, 'GPU bytes after the aborted download');
      await new Promise((r) => setTimeout(r, 200));
      const store = await caches.open(name);
      assert(!(await store.match(new URL(WEIGHTS, location.href).href)), 'half a weights file was cached');

      // During the upload, with every byte coming from the cache.
      await (await Flap.load({ config: CONFIG, weights: WEIGHTS }, { device, cache: { name } })).dispose();
      const duringUpload = new AbortController();
      let uploads = 0;
      const e2 = await assertThrows(() => Flap.load({ config: CONFIG, weights: WEIGHTS }, {
        device,
        cache: { name },
        signal: duringUpload.signal,
        onProgress: (p) => {
          if (p.phase === 'upload' && ++uploads === 3) duringUpload.abort();
        },
      }), Error);
      assertEqual(e2.name, 'AbortError', 'error of an abort during the upload');
      assertEqual(uploads, 3, 'upload events (none after the abort)');
      assertEqual(device.stats.bytesInUse, before, 'GPU bytes after the aborted upload');
    } finally {
      await caches.delete(name);
    }
  },

  'a refused or full cache falls back to plain fetching with a warning': async ({ device }) => {
    const name = cacheName('refused');
    try {
      const warnings: string[] = [];
      const refusing = { open: () => Promise.reject(new DOMException('blocked', 'SecurityError')) } as unknown as CacheStorage;
      const bytes = await fetchModelBytes(WEIGHTS, { cache: { name }, caches: refusing, onWarning: (m) => warnings.push(m) });
      assertEqual(bytes.length, WEIGHTS_BYTES, 'bytes through a refusing cache');
      assert(warnings.length === 1 && /refused/.test(warnings[0]!), `warnings: ${JSON.stringify(warnings)}`);

      warnings.length = 0;
      const real = await caches.open(name);
      const full = { open: async () => ({ match: real.match.bind(real), delete: real.delete.bind(real), put: () => Promise.reject(new DOMException('quota', 'QuotaExceededError')) }) } as unknown as CacheStorage;
      const file = await openModelFile(WEIGHTS, { cache: { name }, caches: full, onWarning: (m) => warnings.push(m) });
      assertEqual((await new Response(file.body).arrayBuffer()).byteLength, WEIGHTS_BYTES, 'bytes through a full cache');
      assertEqual(await file.stored, false, 'stored in a full cache');
      assert(warnings.length === 1 && /QuotaExceededError/.test(warnings[0]!), `warnings: ${JSON.stringify(warnings)}`);

      // The whole load through the page's own Cache Storage, refusing.
      const own = Object.getOwnPropertyDescriptor(globalThis, 'caches');
      Object.defineProperty(globalThis, 'caches', { value: refusing, configurable: true });
      warnings.length = 0;
      try {
        (await Flap.load({ config: CONFIG, weights: WEIGHTS }, { device, cache: { name }, onWarning: (m) => warnings.push(m) })).dispose();
      } finally {
        if (own) Object.defineProperty(globalThis, 'caches', own);
        else delete (globalThis as { caches?: unknown }).caches;
      }
      assert(warnings.length >= 1 && warnings.every((w) => /refused/.test(w)), `load warnings: ${JSON.stringify(warnings)}`);
    } finally {
      await caches.delete(name);
    }
  },

  'a missing file is an InputError naming the field': async ({ device }) => {
    await assertThrows(() => Flap.load({ config: CONFIG, weights: '/tests/fixtures/no_such.safetensors' }, { device, cache: false }), InputError, /weights: .*no_such.*HTTP 404/);
    await assertThrows(() => Flap.load('/tests/fixtures/no_such_model/', { device, cache: false }), InputError, /config: .*HTTP 404/);
  },
};
