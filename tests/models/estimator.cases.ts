/**
 * The estimator (src/models/estimator.ts) against the PyTorch reference: seeded random weights on three random
 * images (tests/models/make_estimator_case.py) → the estimates in natural units within max |a − b| ≤
 * 1e-3 · max(1, max |b|), and the coefficient rows made of them within 1e-4.
 */
import { Estimator, estimates, toCoefficients } from '../../src/models/estimator';
import { loadModuleWeights } from '../../src/models/load';
import { readSafetensors } from '../../src/weights/safetensors';
import { assertClose } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity, toChannelsLast } from '../harness/fixtures';

export const cases: Cases = {
  'estimator: five conv levels and the head in the flatten order of torch, then coefficient rows, as the reference': async ({ device, where, log }) => {
    const bytes = await fixtureBytes('estimator.safetensors', where);
    const est = new Estimator(Number(readSafetensors(bytes).header.metadata.width));
    await loadModuleWeights(device, est, bytes, { prefix: 'estimator.', keepF16: false });
    const fx = await loadFixture('estimator.safetensors', where);
    try {
      const images = toChannelsLast(fx.get('images')!);
      const raw = device.scope(() => est.forward(device.tensor(images.shape, 'f32', images.data))).keep();
      const got = estimates(await raw.read());
      raw.release();
      log(parity('estimates', got, fx.get('estimates')!));
      assertClose(toCoefficients(got), fx.get('coefficients')!.data, { atol: 1e-4, rtol: 1e-4, label: 'coefficients' });
    } finally {
      est.release();
    }
  },
};
