/**
 * The shared local server (static mode, as the installed command line uses it) and the Chromium/SwiftShader
 * defaults: what is served, with which headers, and what is refused.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BrowserNotFoundError, chromiumArgs, launchChromium, SWIFTSHADER_ICD, withSwiftShader } from '../../scripts/chromium.mjs';
import { resolveMounted, serve } from '../../scripts/serve.mjs';

const dir = mkdtempSync(join(tmpdir(), 'flap-serve-'));
writeFileSync(join(dir, 'index.html'), '<p>hi</p>');
writeFileSync(join(dir, 'w.safetensors'), new Uint8Array(1000));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scripts/serve.mjs (static)', () => {
  it('maps URL paths to mounted files and nothing outside them', () => {
    const mounts = { '/': dir, '/model/weights.safetensors': '/elsewhere/w.safetensors' };
    expect(resolveMounted(mounts, '/')).toBe(join(dir, 'index.html'));
    expect(resolveMounted(mounts, '/model/weights.safetensors')).toBe('/elsewhere/w.safetensors');
    expect(resolveMounted(mounts, '/../secret.txt')).toBeUndefined();
    expect(resolveMounted(mounts, '/..%2fsecret.txt')).toBeUndefined();
    expect(resolveMounted(mounts, '/%E0%A4%A')).toBeUndefined();
  });

  it('answers GET and HEAD with a size and an ETag, 304 for a current copy, 404 and 405 otherwise', async () => {
    const server = await serve({ mounts: { '/': dir }, headers: { 'X-Test': '1' } });
    try {
      const get = await fetch(`${server.url}/w.safetensors`);
      expect([get.status, get.headers.get('content-length'), get.headers.get('x-test'), (await get.arrayBuffer()).byteLength]).toEqual([200, '1000', '1', 1000]);
      const etag = get.headers.get('etag')!;
      expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      const head = await fetch(`${server.url}/w.safetensors`, { method: 'HEAD' });
      expect([head.status, head.headers.get('etag'), head.headers.get('content-length')]).toEqual([200, etag, '1000']);
      expect((await fetch(`${server.url}/w.safetensors`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
      expect((await fetch(`${server.url}/`)).headers.get('content-type')).toMatch(/text\/html/);
      expect((await fetch(`${server.url}/missing.bin`)).status).toBe(404);
      expect((await fetch(`${server.url}/w.safetensors`, { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});

describe('scripts/chromium.mjs', () => {
  it('points Dawn at SwiftShader unless told otherwise', () => {
    expect(withSwiftShader({ VK_ICD_FILENAMES: '/my/icd.json' }).VK_ICD_FILENAMES).toBe('/my/icd.json');
    expect(withSwiftShader({ FLAP_WEBGPU_ADAPTER: 'default' }).VK_ICD_FILENAMES).toBeUndefined();
    expect(withSwiftShader({}).VK_ICD_FILENAMES).toBe(existsSync(SWIFTSHADER_ICD) ? SWIFTSHADER_ICD : undefined);
    expect(chromiumArgs({})).toContain('--use-webgpu-adapter=swiftshader');
    expect(chromiumArgs({ FLAP_WEBGPU_ADAPTER: 'default' }).some((a) => a.startsWith('--use-webgpu-adapter'))).toBe(false);
  });

  it('names the missing browser and how to fix it', async () => {
    const error = await launchChromium({ env: { FLAP_CHROMIUM: '/nowhere/chromium' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrowserNotFoundError);
    expect((error as Error).message).toMatch(/no Chromium at \/nowhere\/chromium.*apt-get install chromium.*FLAP_CHROMIUM/);
  });
});
