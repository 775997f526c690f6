/**
 * The log-mel audio front end (src/models/mel_encoder.ts) against the PyTorch reference: seeded random weights
 * on 0.73 s of speech (tests/models/make_mel_case.py) → the log-mel spectrogram and the features, within
 * max |a − b| ≤ 1e-3 · max(1, max |b|). Also the filter bank against its closed form.
 */
import type { MelEncoderConfig } from '../../src/models/config';
import { loadModuleWeights } from '../../src/models/load';
import { melFilters, melFrames, MelEncoder } from '../../src/models/mel_encoder';
import { readSafetensors } from '../../src/weights/safetensors';
import { assert, assertClose } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity } from '../harness/fixtures';

export const cases: Cases = {
  'mel filters: triangles on the HTK scale, none empty (the lowest are narrower than a bin), that tile the spectrum': () => {
    const fb = melFilters(512, 64, 16000, 20);
    const peaks = Array.from({ length: 64 }, (_, m) => Math.max(...Array.from({ length: 257 }, (_, k) => fb[k * 64 + m]!)));
    assert(peaks.every((p) => p > 0.25 && p <= 1), `no empty filter: peaks ${Math.min(...peaks)}..${Math.max(...peaks)}`);
    // Between the first and last centre, neighbouring triangles sum to 1.
    const sums = Array.from({ length: 257 }, (_, k) => Array.from({ length: 64 }, (_, m) => fb[k * 64 + m]!).reduce((a, b) => a + b, 0));
    assertClose(sums.slice(40, 200), new Array(160).fill(1), { atol: 1e-9, label: 'tiling' });
  },

  'log-mel front end: log-mel and features as the reference (odd length, partial last frame dropped)': async ({ device, where, log }) => {
    const bytes = await fixtureBytes('mel_encoder.safetensors', where);
    const config = JSON.parse(readSafetensors(bytes).header.metadata.config!) as MelEncoderConfig;
    const fx = await loadFixture('mel_encoder.safetensors', where);
    const enc = new MelEncoder(config);
    await loadModuleWeights(device, enc, bytes, { prefix: 'mel.', keepF16: false });
    await enc.prepare(device);
    try {
      const input = fx.get('input')!.data;
      assert(melFrames(config, input.length) === fx.get('output')!.shape[1], 'frame count');
      await device.scopeAsync(async () => {
        const record = new Map();
        const out = enc.forward(device, input, record);
        log(parity('log_mel', await record.get('log_mel').read(), fx.get('log_mel')!));
        log(parity('output', await out.read(), fx.get('output')!));
        record.get('log_mel').release();
      });
    } finally {
      enc.release();
    }
  },
};
