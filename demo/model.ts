// Which model the demo and the command line use: the shipped flap-mini when present, else the tiny `test`
// configuration with the parity fixtures' weights (it runs, but it was never trained: expect noise).
export interface ModelChoice {
  name: string;
  config: string;
  weights: string;
  trained: boolean;
  /** The head-world asset for the 3-D preview (models trained on the head world have one). */
  headAsset?: string;
  /** Its kernels.json: shaders compiled while the weights load. */
  kernels?: string;
}

export async function defaultModel(preferred = 'auto'): Promise<ModelChoice> {
  const mini = { name: 'flap-mini', config: '/models/flap-mini/config.json', weights: '/models/flap-mini/weights.safetensors', trained: true, headAsset: '/models/flap-mini/head_asset.safetensors', kernels: '/models/flap-mini/kernels.json' };
  const test = { name: 'test', config: '/weights-tools/configs/test.json', weights: '/tests/fixtures/test_weights.safetensors', trained: false };
  if (preferred === 'test') return test;
  const res = await fetch(mini.config, { method: 'HEAD' }).catch(() => undefined);
  if (res?.ok && res.headers.get('content-type')?.includes('json')) return mini;
  if (preferred === 'mini') throw new Error('models/flap-mini is not there (train it with weights-tools/train/run_all.sh)');
  return test;
}
