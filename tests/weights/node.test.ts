/** The Node file source: exact ranges, read into a caller's buffer when one is given (the loader's reuse). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSource } from '../../src/weights/node';

describe('[node] fileSource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flap-src-'));
  const path = join(dir, 'bytes.bin');
  writeFileSync(path, Uint8Array.from({ length: 1000 }, (_, i) => i % 251));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a range into a fresh array, or into the given buffer when it is large enough', async () => {
    const source = await fileSource(path);
    try {
      const expected = Array.from({ length: 300 }, (_, i) => (i + 17) % 251);
      expect([...(await source.read(17, 300))]).toEqual(expected);
      const into = new Uint8Array(512);
      const view = await source.read(17, 300, into);
      expect(view.buffer).toBe(into.buffer);
      expect(view.byteLength).toBe(300);
      expect([...view]).toEqual(expected);
      const small = new Uint8Array(10);
      const fresh = await source.read(17, 300, small);
      expect(fresh.buffer).not.toBe(small.buffer);
      expect([...fresh]).toEqual(expected);
    } finally {
      await source.close?.();
    }
  });
});
