/**
 * UNet-side modules on their own against the PyTorch reference (tests/fixtures/unet_blocks.safetensors, from
 * tests/models/make_unet_cases.py): ResNet blocks, spatial transformers (with ReferenceNet tokens shared by
 * every frame through a stride-0 batch, and without), a motion module over two clips, the ReferenceNet and the
 * temporal UNet with distinct timesteps per frame, at odd and non-square sizes the whole-model fixtures do not
 * reach. Bound: max |a − b| ≤ 1e-3 · max(1, max |b|) for every compared tensor (each error is logged).
 * Weights go through src/models/load.ts (F16 kept as f16 unless a case says otherwise); every case also checks
 * that the forward reads nothing back and that releasing the module and the results frees every byte.
 */
import testConfig from '../../weights-tools/configs/test.json';
import { parseConfig, type UNetConfig } from '../../src/models/config';
import { loadModuleWeights } from '../../src/models/load';
import type { Module } from '../../src/models/module';
import { WeightsError } from '../../src/models/module';
import { VanillaTemporalModule } from '../../src/models/motion_module';
import { ReferenceNet } from '../../src/models/reference_net';
import { ResnetBlock2D } from '../../src/models/resnet';
import { Transformer2DModel } from '../../src/models/transformer_2d';
import { UNet } from '../../src/models/unet';
import { silu } from '../../src/ops/math/unary';
import type { FlapDevice } from '../../src/runtime/device';
import type { Tensor } from '../../src/runtime/tensor';
import { ShapeError } from '../../src/errors';
import { assert, assertEqual, assertThrows } from '../harness/assert';
import type { CaseContext, Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity, toChannelsLast, type FixtureTensor } from '../harness/fixtures';

const unetConfig = parseConfig(testConfig).unet;
const FILE = 'unet_blocks.safetensors';
/** make_unet_cases.py's DEEP_UNET overrides of the test config's UNet. */
const deepConfig: UNetConfig = {
  ...unetConfig,
  block_out_channels: [16, 24, 32],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2,
  num_attention_heads: 2,
  cross_attention_dim: 12,
  norm_num_groups: 4,
  expression_attention: false,
  motion_num_attention_heads: 4,
};

const files = new Map<string, Promise<{ bytes: Uint8Array; tensors: Map<string, FixtureTensor> }>>();
function fixture(t: CaseContext) {
  let f = files.get(t.where);
  if (!f) {
    f = Promise.all([fixtureBytes(FILE, t.where), loadFixture(FILE, t.where)]).then(([bytes, tensors]) => ({ bytes, tensors }));
    files.set(t.where, f);
  }
  return f;
}

function get(fx: Map<string, FixtureTensor>, key: string): FixtureTensor {
  const v = fx.get(key);
  if (!v) throw new Error(`${FILE} lacks ${key} (rerun tests/models/make_unet_cases.py)`);
  return v;
}

const upload = (device: FlapDevice, f: FixtureTensor) => device.tensor(f.shape, 'f32', f.data);
const nhwc = (device: FlapDevice, f: FixtureTensor) => upload(device, toChannelsLast(f));

/**
 * Loads `module` from the case's weights, runs `body` (which returns the tensors to compare, by fixture key,
 * and whether each is NCHW), checks it read nothing back, compares, then checks every byte came back.
 */
async function runCase<M extends Module>(
  t: CaseContext,
  name: string,
  module: M,
  body: (m: M, fx: Map<string, FixtureTensor>) => Map<string, { tensor: Tensor; nchw: boolean }>,
  keepF16 = true,
): Promise<void> {
  const { bytes, tensors: fx } = await fixture(t);
  const device = t.device;
  await device.flush();
  const before = device.stats.bytesInUse;
  await loadModuleWeights(device, module, bytes, { prefix: `${name}.weights.`, keepF16 });
  const weights = device.stats.bytesInUse - before;
  device.resetPeak();
  const results = device.scope(() => {
    const readbacks = device.stats.readbacks;
    const out = body(module, fx);
    for (const r of out.values()) r.tensor.keep();
    assertEqual(device.stats.readbacks, readbacks, `readbacks during ${name}'s forward`);
    return out;
  });
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  t.log(`${name}: weights ${kib(weights)}, peak of the forward ${kib(device.stats.peakBytesInUse - before - weights)} above them, ${kib(device.stats.bytesInUse - before - weights)} held by the results`);
  try {
    for (const [key, { tensor, nchw }] of results) {
      const expected = get(fx, `${name}.${key}`);
      t.log(parity(`${name}.${key}`, await tensor.read(), nchw ? toChannelsLast(expected) : expected));
    }
  } finally {
    for (const r of results.values()) r.tensor.release();
    module.release();
  }
  await device.flush();
  assertEqual(device.stats.bytesInUse, before, `bytes in use after releasing ${name} and its results`);
}

function resnetCase(keepF16: boolean) {
  return (t: CaseContext) =>
    runCase(t, 'resnet', new ResnetBlock2D(24, 40, 64, 8, 1e-5), (m, fx) => {
      const temb = silu(upload(t.device, get(fx, 'resnet.temb')));
      return new Map([['out', { tensor: m.forward(nhwc(t.device, get(fx, 'resnet.x')), temb), nchw: true }]]);
    }, keepF16);
}

function transformerCase(keepF16: boolean) {
  return (t: CaseContext) =>
    runCase(t, 'transformer', new Transformer2DModel('x', 2, 12, 24, 20, 4, true), (m, fx) => {
      const g = (k: string) => get(fx, `transformer.${k}`);
      // The reference tokens have batch 1: attn1 reads their K/V with a batch stride of 0 for all 6 items.
      const reference = m.transformer_blocks[0].attn1.keyValue(upload(t.device, g('reference')));
      assertEqual(reference.k.shape[0], 1, 'reference K batch');
      const { out, normed } = m.forward(nhwc(t.device, g('x')), upload(t.device, g('pose')), upload(t.device, g('expr')), reference);
      return new Map([
        ['out', { tensor: out, nchw: true }],
        ['normed', { tensor: normed, nchw: false }],
      ]);
    }, keepF16);
}

export const cases: Cases = {
  'ResnetBlock2D 24→40 with time embedding and 1x1 shortcut, 7x5 (f16 weights)': resnetCase(true),
  'ResnetBlock2D 24→40 with time embedding and 1x1 shortcut, 7x5 (f32 weights)': resnetCase(false),

  'ResnetBlock2D 16→16 without time embedding': (t) =>
    runCase(t, 'resnet_plain', new ResnetBlock2D(16, 16, null, 4, 1e-6), (m, fx) =>
      new Map([['out', { tensor: m.forward(nhwc(t.device, get(fx, 'resnet_plain.x'))), nchw: true }]])),

  'Transformer2DModel with expression path and shared reference tokens, 5x3 (f16 weights)': transformerCase(true),
  'Transformer2DModel with expression path and shared reference tokens, 5x3 (f32 weights)': transformerCase(false),

  'Transformer2DModel: 2 videos × 3 frames, each video reading its own reference K/V (no copy)': (t) =>
    runCase(t, 'transformer', new Transformer2DModel('x', 2, 12, 24, 20, 4, true), (m, fx) => {
      const g = (k: string) => get(fx, `transformer.${k}`);
      const reference = m.transformer_blocks[0].attn1.keyValue(upload(t.device, g('reference_videos')));
      const { out, normed } = m.forward(nhwc(t.device, g('x')), upload(t.device, g('pose')), upload(t.device, g('expr')), reference);
      normed.release();
      return new Map([['out_videos', { tensor: out, nchw: true }]]);
    }),

  'Transformer2DModel refuses items that do not split into the reference groups': async (t) => {
    const { bytes, tensors: fx } = await fixture(t);
    const m = new Transformer2DModel('x', 2, 12, 24, 20, 4, true);
    await loadModuleWeights(t.device, m, bytes, { prefix: 'transformer.weights.' });
    try {
      await t.device.scopeAsync(async () => {
        const g = (k: string) => get(fx, `transformer.${k}`);
        const reference = m.transformer_blocks[0].attn1.keyValue(upload(t.device, { shape: [4, 13, 24], data: new Float32Array(4 * 13 * 24) }));
        await assertThrows(() => m.forward(nhwc(t.device, g('x')), upload(t.device, g('pose')), upload(t.device, g('expr')), reference), ShapeError, /6 items do not split into the 4 groups/);
      });
    } finally {
      m.release();
    }
  },

  'Transformer2DModel without expression path or reference': (t) =>
    runCase(t, 'transformer_plain', new Transformer2DModel('x', 2, 12, 24, 20, 4, false), (m, fx) => {
      const g = (k: string) => get(fx, `transformer_plain.${k}`);
      const { out, normed } = m.forward(nhwc(t.device, g('x')), upload(t.device, g('pose')), undefined);
      normed.release();
      return new Map([['out', { tensor: out, nchw: true }]]);
    }),

  'VanillaTemporalModule over 2 clips of 5 frames, 3x4': (t) =>
    runCase(t, 'motion', new VanillaTemporalModule(24, 2, 4, 32), (m, fx) => {
      const frames = get(fx, 'motion.frames').data[0]!;
      return new Map([['out', { tensor: m.forward(nhwc(t.device, get(fx, 'motion.x')), frames), nchw: true }]]);
    }),

  'ReferenceNet (test config) features of an 8x6 latent': (t) =>
    runCase(t, 'reference_net', new ReferenceNet(unetConfig), (m, fx) => {
      const g = (k: string) => get(fx, `reference_net.${k}`);
      const features = m.features(nhwc(t.device, g('latent')), upload(t.device, g('pose')), upload(t.device, g('expr')));
      const keys = m.transformers().map((x) => x.key);
      assertEqual(JSON.stringify([...features.keys()]), JSON.stringify(keys), 'feature keys (execution order)');
      return new Map([...features].map(([k, v]) => [`features.${k}`, { tensor: v, nchw: false }]));
    }),

  'temporal UNet (test config): 3 frames, distinct timesteps, ReferenceNet K/V shared by the frames': (t) =>
    runCase(t, 'unet', new UNet(unetConfig, true), (m, fx) => {
      const g = (k: string) => get(fx, `unet.${k}`);
      const features = new Map<string, Tensor>();
      for (const x of m.transformers()) features.set(x.key, upload(t.device, get(fx, `reference_net.features.${x.key}`)));
      const reference = m.referenceKeyValues(features);
      const sample = nhwc(t.device, g('sample'));
      const intermediates = new Map<string, Tensor>();
      const out = m.forward(sample, [...g('timesteps').data], { pose: upload(t.device, g('pose')), expr: upload(t.device, g('expr')), frames: sample.shape[0]!, reference, intermediates });
      for (const kv of reference.values()) {
        kv.k.release();
        kv.v.release();
      }
      const expected = [...fx.keys()].filter((k) => k.startsWith('unet.intermediates.')).map((k) => k.slice('unet.'.length));
      assertEqual(intermediates.size, expected.length, 'recorded block outputs');
      return new Map([
        ...[...intermediates].map(([k, v]) => [`intermediates.${k}`, { tensor: v, nchw: true }] as const),
        ['out', { tensor: out, nchw: true }],
      ]);
    }),

  'temporal UNet with 2 layers per block and 3 levels, no expression path, no reference, 8x12': (t) =>
    runCase(t, 'unet_deep', new UNet(deepConfig, true), (m, fx) => {
      const g = (k: string) => get(fx, `unet_deep.${k}`);
      const sample = nhwc(t.device, g('sample'));
      const intermediates = new Map<string, Tensor>();
      const out = m.forward(sample, [...g('timesteps').data], { pose: upload(t.device, g('pose')), frames: sample.shape[0]!, intermediates });
      assertEqual(intermediates.size, 7, 'recorded block outputs (3 down, mid, 3 up)');
      return new Map([
        ...[...intermediates].map(([k, v]) => [`intermediates.${k}`, { tensor: v, nchw: true }] as const),
        ['out', { tensor: out, nchw: true }],
      ]);
    }),

  'UNet refuses mis-shaped inputs with a ShapeError naming them, before any GPU work': async (t) => {
    const m = new UNet(unetConfig, true);
    const d = t.device;
    await d.scopeAsync(async () => {
      const dispatches = d.stats.dispatches;
      const pose = (n: number, dim = 32) => d.tensor([n, 2, dim], 'f32');
      const ok = { pose: pose(4), expr: pose(4), frames: 4 };
      const sample = d.tensor([4, 8, 6, 4], 'f32');
      const refuse = (what: RegExp, fn: () => unknown) => assertThrows(fn, ShapeError, what);
      await refuse(/sample must be \[N, H, W, 4\] \(got \[4, 8, 6, 3\]\)/, () => m.forward(d.tensor([4, 8, 6, 3], 'f32'), [1, 1, 1, 1], ok));
      await refuse(/latent 7x6 must be a multiple of 2/, () => m.forward(d.tensor([4, 7, 6, 4], 'f32'), [1, 1, 1, 1], ok));
      await refuse(/3 timesteps for 4 items/, () => m.forward(sample, [1, 1, 1], ok));
      await refuse(/4 items are not whole clips of 3 frames/, () => m.forward(sample, [1, 1, 1, 1], { ...ok, frames: 3 }));
      await refuse(/pose tokens must be \[4, K, 32\] \(got \[4, 2, 20\]\)/, () => m.forward(sample, [1, 1, 1, 1], { ...ok, pose: pose(4, 20) }));
      await refuse(/expression tokens must be \[4, K, 32\]/, () => m.forward(sample, [1, 1, 1, 1], { ...ok, expr: pose(2) }));
      await refuse(/expression path but no expression tokens/, () => m.forward(sample, [1, 1, 1, 1], { pose: pose(4), frames: 4 }));
      const kv = { k: d.tensor([3, 12, 48], 'f32'), v: d.tensor([3, 12, 48], 'f32') };
      await refuse(/reference mid_block.attentions.0 has 3 items/, () => m.forward(sample, [1, 1, 1, 1], { ...ok, reference: new Map([['mid_block.attentions.0', kv]]) }));
      assertEqual(d.stats.dispatches, dispatches, 'dispatches before the refusals');
    });
    m.release();
  },

  'loading from a stream by prefix (the rest of the file is dropped), then the same forward': async (t) => {
    const { bytes, tensors: fx } = await fixture(t);
    await t.device.flush();
    const before = t.device.stats.bytesInUse;
    const m = new ResnetBlock2D(16, 16, null, 4, 1e-6);
    // Uneven chunks, so tensors straddle chunk boundaries.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65_537) controller.enqueue(bytes.subarray(i, i + 65_537));
        controller.close();
      },
    });
    await loadModuleWeights(t.device, m, stream, { prefix: 'resnet_plain.weights.' });
    try {
      const out = t.device.scope(() => m.forward(nhwc(t.device, get(fx, 'resnet_plain.x'))).keep());
      t.log(parity('resnet_plain.out (streamed weights)', await out.read(), toChannelsLast(get(fx, 'resnet_plain.out'))));
      out.release();
    } finally {
      m.release();
    }
    await t.device.flush();
    assertEqual(t.device.stats.bytesInUse, before, 'bytes in use after the streamed load and release');
  },

  'loading names every missing, unexpected and mis-shaped tensor, and keeps nothing': async (t) => {
    const { bytes } = await fixture(t);
    await t.device.flush();
    const before = t.device.stats.bytesInUse;
    // resnet_plain's weights into a 24→40 block: conv shapes differ, the shortcut and time projection are missing.
    const m = new ResnetBlock2D(24, 40, 64, 8, 1e-5);
    const err = (await assertThrows(() => loadModuleWeights(t.device, m, bytes, { prefix: 'resnet_plain.weights.' }), WeightsError)) as WeightsError;
    for (const name of ['conv_shortcut.weight', 'time_emb_proj.weight', 'conv1.weight: file [16, 16, 3, 3], model [40, 24, 3, 3]']) {
      assert(err.message.includes(name), `error names ${name}: ${err.message}`);
    }
    // The motion module's weights hold more than a resnet: everything extra is listed as unexpected.
    const r = new ResnetBlock2D(16, 16, null, 4, 1e-6);
    await assertThrows(() => loadModuleWeights(t.device, r, bytes, { prefix: 'motion.weights.' }), WeightsError, /unexpected \(\d+\): temporal_transformer\./);
    await t.device.flush();
    assertEqual(t.device.stats.bytesInUse, before, 'bytes in use after failed loads');
    t.log(`refused: ${err.missing.length} missing, ${err.unexpected.length} unexpected, ${err.mismatched.length} mis-shaped`);
  },
};
