/**
 * bench/unet.ts randomWeights: the safetensors file the benchmark page makes when the step's weights file is not in
 * the site must load into the mini model as it is (the loader is strict: every parameter, no extra, right shapes).
 */
import { afterAll, expect, it } from 'vitest';
import mini from '../../weights-tools/configs/mini.json';
import { randomWeights } from '../../bench/unet';
import { parseConfig } from '../../src/models/config';
import { FlapModel } from '../../src/models/model';
import { createDevice, type FlapDevice } from '../../src/runtime/device';

let device: FlapDevice | undefined;
afterAll(() => device?.destroy());

it('[node] the benchmark page\'s random mini weights load into the mini model (strict loader), f32', async () => {
  const config = parseConfig(mini);
  const file = randomWeights(config);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + Number(new DataView(file.buffer).getBigUint64(0, true))))) as Record<string, { dtype: string }>;
  const params = new FlapModel(config).namedParameters();
  expect(Object.keys(header).filter((k) => k !== '__metadata__')).toEqual(params.map(([name]) => name));
  expect(new Set(Object.values(header).map((t) => t.dtype).filter(Boolean))).toEqual(new Set(['F32']));
  device = await createDevice();
  const model = await FlapModel.load(device, config, file, { keepF16: false, autotune: false });
  expect(model.unet.namedParameters().every(([, p]) => p.loaded)).toBe(true);
  model.release();
});
