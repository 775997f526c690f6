/**
 * The one local web server of flap-webgpu (plain JavaScript, so `.mjs` entry points import it as is; `serve.d.mts`
 * types it). Headless Chromium needs a page on http://127.0.0.1 (a secure context: `navigator.gpu` and Cache
 * Storage exist there, not on about:blank). Two modes, one set of options:
 *
 * - `serve({ mounts })`: static files from disk in plain Node, with nothing else installed. The command line of
 *   the installed package uses it (its page is prebuilt), and the consumer test serves installed packages with it.
 *   GET and HEAD, Content-Length, an ETag (size and mtime) answered with 304, no directory listings, nothing
 *   outside the mounted paths.
 * - `serve({ vite: true, root })`: a Vite dev server over `root` (TypeScript and `?raw` WGSL imports compiled on
 *   request), for the test harness and the benchmarks in a checkout. Vite is imported only in this mode.
 *
 * Either way the server listens on 127.0.0.1 at a free port and `close()` stops it.
 *
 * @example
 * const server = await serve({ mounts: { '/': 'dist/cli/', '/model/weights.safetensors': 'models/x/weights.safetensors' } });
 * await page.goto(`${server.url}/render.html`);
 * await server.close();
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, resolve, sep } from 'node:path';

export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

/**
 * The file a URL path maps to under `mounts` (URL prefix → file or folder; the longest prefix wins; a prefix
 * ending in `/` is a folder), or undefined. Paths that climb out of a mounted folder map to nothing.
 */
export function resolveMounted(mounts, urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (path.includes('\0')) return undefined;
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    const target = resolve(mounts[prefix]);
    if (!prefix.endsWith('/')) {
      if (path === prefix) return target;
      continue;
    }
    if (!path.startsWith(prefix)) continue;
    let rest = path.slice(prefix.length);
    if (rest === '' || rest.endsWith('/')) rest += 'index.html';
    const file = resolve(target, rest);
    if (file !== target && !file.startsWith(target + sep)) return undefined;
    return file;
  }
  return undefined;
}

function staticHandler(mounts, headers) {
  return async (req, res) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = resolveMounted(mounts, url.pathname);
    const info = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !info?.isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
      return;
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const common = {
      'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      ETag: etag,
      'Last-Modified': info.mtime.toUTCString(),
      'Cache-Control': 'no-cache',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, common).end();
      return;
    }
    res.writeHead(200, { ...common, 'Content-Length': String(info.size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };
}

/**
 * Starts a server; see the module comment. Options: `mounts` (static mode), `vite` (true or extra Vite config)
 * with `root`, `headers` sent with every response, `middleware(req, res, next)` run before the files.
 */
export async function serve(options = {}) {
  const headers = options.headers ?? {};
  const host = '127.0.0.1';
  if (options.vite) {
    const { createServer: createVite } = await import('vite');
    const middlewarePlugin = {
      name: 'flap-serve-middleware',
      configureServer(server) {
        server.middlewares.use((req, res, next) => {
          for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
          if (options.middleware) options.middleware(req, res, next);
          else next();
        });
      },
    };
    const extra = options.vite === true ? {} : options.vite;
    const vite = await createVite({
      configFile: false,
      root: options.root ?? process.cwd(),
      logLevel: 'error',
      ...extra,
      plugins: [middlewarePlugin, ...(extra.plugins ?? [])],
      server: { host, port: 0, strictPort: false, hmr: false, watch: null, ...(extra.server ?? {}) },
      optimizeDeps: { noDiscovery: true, include: [] },
    });
    await vite.listen();
    const address = vite.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('the Vite server has no port');
    return { url: `http://${host}:${address.port}`, port: address.port, vite, close: () => vite.close() };
  }

  const files = staticHandler(options.mounts ?? { '/': options.root ?? process.cwd() }, headers);
  const server = createServer((req, res) => {
    const next = () => files(req, res).catch(() => res.headersSent ? res.destroy() : res.writeHead(500).end());
    if (options.middleware) options.middleware(req, res, next);
    else next();
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, host, ok);
  });
  const { port } = server.address();
  return {
    url: `http://${host}:${port}`,
    port,
    close: () => new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}
