/**
 * The geometry guide's encoder (src/models/guide.ts) against the PyTorch reference: seeded random weights on two
 * random guides, added to a residual as the UNet adds it to conv_in's output (tests/models/make_guide_case.py),
 * within max |a − b| ≤ 1e-3 · max(1, max |b|).
 */
import type { GuideConfig } from '../../src/models/config';
import { GuideEncoder } from '../../src/models/guide';
import { loadModuleWeights } from '../../src/models/load';
import { readSafetensors } from '../../src/weights/safetensors';
import type { Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity, toChannelsLast } from '../harness/fixtures';

export const cases: Cases = {
  'guide encoder: stride-2 convs with SiLU, then conv_out plus the residual, as the reference': async ({ device, where, log }) => {
    const bytes = await fixtureBytes('guide_encoder.safetensors', where);
    const meta = readSafetensors(bytes).header.metadata;
    const enc = new GuideEncoder(JSON.parse(meta.guide!) as GuideConfig, Number(meta.out_channels));
    await loadModuleWeights(device, enc, bytes, { prefix: 'guide_encoder.', keepF16: false });
    const fx = await loadFixture('guide_encoder.safetensors', where);
    try {
      await device.scopeAsync(async () => {
        const [guide, residual] = [toChannelsLast(fx.get('guide')!), toChannelsLast(fx.get('residual')!)];
        const out = enc.forward(device.tensor(guide.shape, 'f32', guide.data), device.tensor(residual.shape, 'f32', residual.data));
        log(parity('output', await out.read(), toChannelsLast(fx.get('output')!)));
      });
    } finally {
      enc.release();
    }
  },
};
