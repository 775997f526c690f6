import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { resolveModel } from '../../src/cli/model';

describe('resolveModel: a model folder on disk', () => {
  it('serves config and weights, and the head asset and kernels.json when the folder has them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-model-'));
    for (const f of ['config.json', 'weights.safetensors']) writeFileSync(join(dir, f), '{}');
    expect(Object.keys(resolveModel(dir, '/nowhere').mounts).sort()).toEqual(['/model/config.json', '/model/weights.safetensors']);
    for (const f of ['head_asset.safetensors', 'kernels.json']) writeFileSync(join(dir, f), '{}');
    const model = resolveModel(dir, '/nowhere');
    expect(model.source).toBe('/model/');
    expect(model.mounts['/model/kernels.json']).toBe(join(dir, 'kernels.json'));
    expect(model.mounts['/model/head_asset.safetensors']).toBe(join(dir, 'head_asset.safetensors'));
  });

  it('names what a folder lacks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flap-model-'));
    writeFileSync(join(dir, 'config.json'), '{}');
    expect(() => resolveModel(dir, '/nowhere')).toThrow(InputError);
    expect(() => resolveModel(dir, '/nowhere')).toThrow(/weights\.safetensors/);
  });
});
