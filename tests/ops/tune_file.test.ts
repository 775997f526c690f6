/** The Node tuning store: winners written to a JSON file and read back; a missing or damaged file reads as none. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileTuningStore } from '../../src/ops/tune_file';

describe('fileTuningStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flap-tune-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the winners (creating the folder) and reads them back', async () => {
    const path = join(dir, 'nested', 'tuning.json');
    const store = fileTuningStore(path);
    expect(await store.load()).toBeUndefined();
    const entries = { 'gpu|x::conv2d::3x3/s1/g1/320->320/w16/p2^16': 'tiled', 'gpu|x::attention::d40/lk2^13/rows2^18': 'subgroup' };
    await store.save(entries);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(entries);
    expect(await fileTuningStore(path).load()).toEqual(entries);
  });

  it('a damaged file reads as no winners, and the next save replaces it', async () => {
    const path = join(dir, 'damaged.json');
    writeFileSync(path, '{"half": ');
    const store = fileTuningStore(path);
    expect(await store.load()).toBeUndefined();
    await store.save({ a: 'b' });
    expect(await store.load()).toEqual({ a: 'b' });
  });
});
