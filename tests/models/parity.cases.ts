/**
 * Module parity with the PyTorch reference: every module of the `test` config, fed the fixture's inputs,
 * reproduces the fixture's outputs and intermediates within max |a − b| ≤ 1e-3 · max(1, max |b|).
 * Weights widened to f32 here; parity.f16 runs the same cases with the linear weights kept f16 (the fixture
 * weights are f16 values, so the same bound must hold).
 */
import testConfig from '../../weights-tools/configs/test.json';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import type { FlapDevice } from '../../src/runtime/device';
import type { Tensor } from '../../src/runtime/tensor';
import type { CaseContext, Cases } from '../harness/cases';
import { fixtureBytes, loadFixture, parity, toChannelsLast, type FixtureTensor } from '../harness/fixtures';

const config = parseConfig(testConfig);

export function parityCases(keepF16: boolean): Cases {
  const models = new WeakMap<FlapDevice, Promise<FlapModel>>();
  const model = (t: CaseContext) => {
    let m = models.get(t.device);
    if (!m) {
      m = fixtureBytes('test_weights.safetensors', t.where).then((bytes) => FlapModel.load(t.device, config, bytes, { keepF16 }));
      models.set(t.device, m);
    }
    return m;
  };
  const fixtures = (name: string, t: CaseContext) => loadFixture(name, t.where);
  const get = (m: Map<string, FixtureTensor>, key: string) => {
    const v = m.get(key);
    if (!v) throw new Error(`fixture lacks ${key}`);
    return v;
  };
  const upload = (device: FlapDevice, f: FixtureTensor, shape = f.shape) => device.tensor(shape, 'f32', f.data);
  const compare = async (t: CaseContext, label: string, actual: Tensor, expected: FixtureTensor) => t.log(parity(label, await actual.read(), expected));

  return {
    'coefficient encoder': async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_modules.safetensors', t)];
      await t.device.scopeAsync(async () => {
        const input = get(fx, 'coeff_encoder.input');
        const { pose, expr } = m.coeff_encoder.forward(upload(t.device, input, [input.shape[0]! * input.shape[1]!, input.shape[2]!]));
        await compare(t, 'pose_tokens', pose, get(fx, 'coeff_encoder.pose_tokens'));
        await compare(t, 'expr_tokens', expr, get(fx, 'coeff_encoder.expr_tokens'));
      });
    },

    'audio encoder (wav2vec2) and its intermediates': async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_modules.safetensors', t)];
      await t.device.scopeAsync(async () => {
        const record = new Map<string, Tensor>();
        const out = m.audio_encoder.forward(t.device, get(fx, 'audio_encoder.input').data, record);
        for (const [key, value] of record) {
          await compare(t, `audio_encoder.${key}`, value, get(fx, `audio_encoder.${key}`));
          value.release();
        }
        await compare(t, 'audio_encoder.output', out, get(fx, 'audio_encoder.output'));
      });
    },

    'audio-to-FLAME head': async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_modules.safetensors', t)];
      await t.device.scopeAsync(async () => {
        const record = new Map<string, Tensor>();
        const frames = get(fx, 'audio2flame.num_frames').data[0]!;
        const out = m.audio2flame.forward(t.device, upload(t.device, get(fx, 'audio2flame.input')), frames, get(fx, 'audio2flame.ref_coeffs').data, record);
        for (const [key, value] of record) {
          await compare(t, `audio2flame.${key}`, value, get(fx, `audio2flame.${key}`));
          value.release();
        }
        await compare(t, 'audio2flame.output', out, get(fx, 'audio2flame.output'));
      });
    },

    'autoencoders (KL and tiny): encode and decode with intermediates': async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_modules.safetensors', t)];
      for (const name of ['autoencoder', 'preview_autoencoder'] as const) {
        const ae = m[name]!;
        await t.device.scopeAsync(async () => {
          for (const dir of ['encode', 'decode'] as const) {
            const record = new Map<string, Tensor>();
            const input = toChannelsLast(get(fx, `${name}.${dir}.input`));
            const out = dir === 'encode' ? ae.encode(upload(t.device, input), record) : ae.decode(upload(t.device, input), record);
            for (const [key, value] of record) {
              await compare(t, `${name}.${dir}.${key}`, value, toChannelsLast(get(fx, `${name}.${dir}.${key}`)));
              value.release();
            }
            await compare(t, `${name}.${dir}.output`, out, toChannelsLast(get(fx, `${name}.${dir}.output`)));
          }
        });
      }
    },

    'ReferenceNet features of the portrait': async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_generation.safetensors', t)];
      await t.device.scopeAsync(async () => {
        const latent = get(fx, 'reference_latent');
        const ref = get(fx, 'ref_coeffs');
        const { pose, expr } = m.coeff_encoder.forward(upload(t.device, ref, [1, ref.shape[0]!]));
        const features = m.reference_net.features(upload(t.device, toChannelsLast({ shape: [1, ...latent.shape], data: latent.data })), pose, expr);
        for (const [key, value] of features) {
          await compare(t, `reference_features.${key}`, value, get(fx, `reference_features.${key}`));
          value.release();
        }
      });
    },

    "the denoising UNet's first call: every block's output and the prediction": async (t) => {
      const [m, fx] = [await model(t), await fixtures('test_generation.safetensors', t)];
      await t.device.scopeAsync(async () => {
        const features = new Map<string, Tensor>();
        for (const key of m.unet.transformers().map((x) => x.key)) {
          const f = get(fx, `reference_features.${key}`);
          features.set(key, upload(t.device, f, [1, ...f.shape]));
        }
        const reference = m.unet.referenceKeyValues(features);
        const input = toChannelsLast(get(fx, 'unet_input'));
        const n = input.shape[0]!;
        const intermediates = new Map<string, Tensor>();
        const out = m.unet.forward(upload(t.device, input), new Array<number>(n).fill(get(fx, 'unet_timestep').data[0]!), {
          pose: upload(t.device, get(fx, 'unet_pose_tokens')),
          expr: upload(t.device, get(fx, 'unet_expr_tokens')),
          frames: config.video.frames_per_clip + config.video.motion_frames,
          reference,
          intermediates,
        });
        for (const [key, value] of intermediates) {
          await compare(t, `unet.${key}`, value, toChannelsLast(get(fx, `unet.${key}`)));
          value.release();
        }
        await compare(t, 'unet_output', out, toChannelsLast(get(fx, 'unet_output')));
        for (const kv of reference.values()) {
          kv.k.release();
          kv.v.release();
        }
      });
    },
  };
}

export const cases = parityCases(false);
