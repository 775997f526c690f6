/**
 * The sampler encodes a clip's guides once (`UNet.encodeGuide`) and passes the features to every step
 * (`UNetContext.guideFeatures`): the UNet must compute exactly what it computes from the guide images (mini's
 * layout, random weights), and refuse features of the wrong shape.
 */
import mini from '../../weights-tools/configs/mini.json';
import { randomWeights } from '../../bench/unet';
import { ShapeError } from '../../src/errors';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import { assertEqual, assertThrows, randomArray, rng } from '../harness/assert';
import type { Cases } from '../harness/cases';

export const cases: Cases = {
  'the UNet given its guides encoded once (as the sampler does per clip) computes what it computes from the guide images': async ({ device }) => {
    const config = parseConfig(mini);
    const model = await FlapModel.load(device, config, randomWeights(config), { keepF16: false });
    try {
      await device.scopeAsync(async () => {
        const size = config.unet.guide!.size, random = rng(7);
        const [n, h, w] = [1, 16, 16];
        const sample = device.tensor([n, h, w, 4], 'f32', randomArray(n * h * w * 4, random));
        const pose = device.tensor([n, config.coeff_encoder.pose_tokens, 128], 'f32', randomArray(n * config.coeff_encoder.pose_tokens * 128, random));
        const expr = device.tensor([n, config.coeff_encoder.expr_tokens, 128], 'f32', randomArray(n * config.coeff_encoder.expr_tokens * 128, random));
        const guide = device.tensor([n, size, size, 3], 'f32', randomArray(n * size * size * 3, random).map((v) => Math.abs(v)));
        const ctx = { pose, expr, frames: n };
        const fromImages = await model.unet.forward(sample, [500], { ...ctx, guide }).read();
        const fromFeatures = await model.unet.forward(sample, [500], { ...ctx, guideFeatures: model.unet.encodeGuide(guide) }).read();
        assertEqual(fromFeatures.findIndex((v, i) => v !== fromImages[i]), -1, 'first element that differs');
        const wrong = device.tensor([n, h, w, 8], 'f32');
        await assertThrows(() => model.unet.forward(sample, [500], { ...ctx, guideFeatures: wrong }), ShapeError, /guide features must be \[1, 16, 16, 48\]/);
      });
    } finally {
      model.release();
    }
  },
};
