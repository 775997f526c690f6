/**
 * Autotuning at model load: opt-in here (SwiftShader). It times the matmul, conv2d and attention variants on the
 * model's shapes, each op then follows its winners, and a tuning store makes a second load time nothing.
 */
import testConfig from '../../weights-tools/configs/test.json';
import { matmulShapeClass } from '../../src/ops/math/matmul';
import { attentionShapeClass, selectVariant } from '../../src/ops/nn/attention';
import { conv2dShapeClass, selectConv2d } from '../../src/ops/nn/conv2d';
import { adapterKey, clearTuning, exportTuning, importTuning, tunedChoice, type TuningStore } from '../../src/ops/tune';
import { parseConfig } from '../../src/models/config';
import { FlapModel, tuneModel, tuningShapes } from '../../src/models/model';
import { assert, assertEqual } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { fixtureBytes } from '../harness/fixtures';

const config = parseConfig(testConfig);

/** A store in memory that counts its reads and writes. */
function memoryStore(): TuningStore & { saved?: Record<string, string>; saves: number } {
  const store = {
    saved: undefined as Record<string, string> | undefined,
    saves: 0,
    async load() {
      return store.saved && { ...store.saved };
    },
    async save(entries: Record<string, string>) {
      store.saved = { ...entries };
      store.saves++;
    },
  };
  return store;
}

export const cases: Cases = {
  'FlapModel.load({ autotune: true }) tunes matmul, every conv level and every attention level, saves the winners and frees its scratch': async ({ device, where, log }) => {
    clearTuning();
    const plan = tuningShapes(config, false);
    const levels = config.unet.block_out_channels.length;
    const attentionLevels = config.unet.down_block_types.filter((t) => t.startsWith('CrossAttn')).length;
    assertEqual([plan.matmul.length, plan.conv2d.length, plan.attention.length].join(), [1, levels, attentionLevels].join(), 'plan sizes (matmul, conv2d, attention)');
    const classes: [string, string][] = [
      ...plan.matmul.map((s) => ['matmul', matmulShapeClass(s)] as [string, string]),
      ...plan.conv2d.map((s) => ['conv2d', conv2dShapeClass(s)] as [string, string]),
      ...plan.attention.map((s) => ['attention', attentionShapeClass({ headDim: s.headDim, rows: s.batch * s.heads * s.lq, lk: s.lk })] as [string, string]),
    ];
    const store = memoryStore();
    const before = device.stats.bytesInUse;
    const model = await FlapModel.load(device, config, await fixtureBytes('test_weights.safetensors', where), { keepF16: false, autotune: true, tuningStore: store });
    for (const [op, cls] of classes) {
      const winner = tunedChoice(device.info, op, cls);
      assert(winner !== undefined, `no tuned choice for ${op} ${cls}`);
      log(`${op} ${cls}: ${winner}`);
    }
    assertEqual(store.saves, 1, 'store writes');
    assertEqual(Object.keys(store.saved ?? {}).length, classes.length, 'entries saved');
    const weights = device.stats.bytesInUse - before;
    model.release();
    device.flush();
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after release');
    assert(weights > 0, 'the model holds its weights');

    // A new page or process: the store's winners are taken and nothing is timed again.
    clearTuning();
    assertEqual(await tuneModel(device, plan, store), 0, 'shapes timed with a full store');
    assertEqual(store.saves, 1, 'store writes after the second load');
    const prefix = adapterKey(device.info);
    for (const [op, cls] of classes) assertEqual(tunedChoice(device.info, op, cls), store.saved![`${prefix}::${op}::${cls}`], `${op} ${cls} restored`);
    clearTuning();
  },

  'conv2d and attention follow an imported winner; exports are per adapter and malformed entries are ignored': async ({ device }) => {
    clearTuning();
    const conv = { kh: 3, kw: 3, stride: 1, groups: 1, cinPerGroup: 32, cout: 32, outW: 8, pixels: 640 };
    const problem = { headDim: 16, rows: 1280, lq: 64, lk: 128, concat: false, aligned: true };
    const prefix = adapterKey(device.info);
    assertEqual(importTuning({ [`${prefix}::conv2d::${conv2dShapeClass(conv)}`]: 'tiled', [`${prefix}::attention::${attentionShapeClass(problem)}`]: 'tiled', bad: 3, 'a::b': 'c' }), 2, 'entries taken');
    assertEqual(selectConv2d(device.info, conv), 'tiled', 'conv2d follows the imported winner');
    assertEqual(selectVariant(device.info, problem).VARIANT, 'tiled', 'attention follows the imported winner');
    assertEqual(Object.keys(exportTuning(device.info)).length, 2, 'exported for this adapter');
    assertEqual(Object.keys(exportTuning({ ...device.info, vendor: 'another' })).length, 0, 'nothing exported for another adapter');
    clearTuning();
  },
};
