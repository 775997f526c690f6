/** Autotuning at model load: opt-in here (SwiftShader), it times the matmul variants on the model's shape. */
import testConfig from '../../weights-tools/configs/test.json';
import { matmulShapeClass } from '../../src/ops/math/matmul';
import { tunedChoice } from '../../src/ops/tune';
import { parseConfig } from '../../src/models/config';
import { FlapModel, tuningShapes } from '../../src/models/model';
import { assert, assertEqual } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes } from '../harness/fixtures';

const config = parseConfig(testConfig);

export const cases: Cases = {
  'FlapModel.load({ autotune: true }) picks a matmul variant for the transformer shape class and frees its scratch': async ({ device, where, log }) => {
    const shapes = tuningShapes(config, false);
    assertEqual(shapes.length, 1, 'tuning shapes');
    const cls = matmulShapeClass(shapes[0]!);
    const before = device.stats.bytesInUse;
    const model = await FlapModel.load(device, config, await fixtureBytes('test_weights.safetensors', where), { keepF16: false, autotune: true });
    const winner = tunedChoice(device.info, 'matmul', cls);
    assert(winner !== undefined, `no tuned choice for ${cls}`);
    log(`${cls} [${shapes[0]!.M}x${shapes[0]!.K}x${shapes[0]!.N}]: ${winner}`);
    const weights = device.stats.bytesInUse - before;
    model.release();
    device.flush();
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after release');
    assert(weights > 0, 'the model holds its weights');
  },
};
