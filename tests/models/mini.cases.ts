/**
 * The shipped flap-mini (models/flap-mini/, f16 weights) against the PyTorch reference running the same file:
 * two clips of a short generation (weights-tools/train/parity.py wrote the golden outputs). Until a model is
 * shipped the case says so and passes; once models/flap-mini exists its fixture must exist too.
 */
import { parseConfig } from '../../src/models/config';
import type { Cases } from '../harness/cases';
import type { Where } from '../harness/cases';
import { checkGeneration } from './generation.cases';

async function repoFile(path: string, where: Where): Promise<Uint8Array | undefined> {
  if (where === 'node') {
    const fs = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs/promises');
    return readFile(new URL(`../../${path}`, import.meta.url)).then((b) => new Uint8Array(b), () => undefined);
  }
  const res = await fetch(`/${path}`);
  return res.ok ? new Uint8Array(await res.arrayBuffer()) : undefined;
}

export const cases: Cases = {
  'flap-mini as shipped: 2 clips of 2 guided DDIM steps → frames, as the reference running the same weights (PSNR ≥ 40 dB)': async (ctx) => {
    const [config, weights, fixture] = await Promise.all(
      ['models/flap-mini/config.json', 'models/flap-mini/weights.safetensors', 'tests/fixtures/mini_generation.safetensors'].map((p) => repoFile(p, ctx.where)),
    );
    if (!config && !weights) {
      ctx.log('models/flap-mini is not shipped yet: nothing to compare');
      return;
    }
    if (!config || !weights || !fixture) throw new Error('models/flap-mini needs config.json, weights.safetensors and tests/fixtures/mini_generation.safetensors (weights-tools/train/parity.py)');
    await checkGeneration(ctx, parseConfig(JSON.parse(new TextDecoder().decode(config))), weights, 'mini_generation.safetensors', 40);
  },
};
