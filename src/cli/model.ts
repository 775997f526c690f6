/**
 * Which model the command line renders with, and how the render page reaches it: local files are served by the
 * command line's own server under `/model/`, a URL is fetched by the page as is. The npm package carries no model
 * (it would be 50 MB); a checkout of the repository has flap-mini (`models/flap-mini/`) and the untrained `test`
 * configuration.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../errors';

export interface ResolvedModel {
  /** What to call it in messages. */
  label: string;
  /** The URL the page loads (`loadFlap(url)` for a folder, or `{ config, weights }`). */
  source: string | { config: string; weights: string };
  /** Files the command line serves: URL path → file. */
  mounts: Record<string, string>;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

function folder(dir: string, label: string): ResolvedModel {
  const config = join(dir, 'config.json');
  const weights = join(dir, 'weights.safetensors');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError('--model', `${dir} is not a folder`);
  for (const f of [config, weights]) if (!isFile(f)) throw new InputError('--model', `${dir} has no ${f.slice(dir.length + 1)} (a model folder holds config.json and weights.safetensors)`);
  const mounts: Record<string, string> = { '/model/config.json': config, '/model/weights.safetensors': weights };
  // The head asset draws a guided model's guides; kernels.json lets the page compile while the weights stream.
  for (const name of ['head_asset.safetensors', 'kernels.json']) if (isFile(join(dir, name))) mounts[`/model/${name}`] = join(dir, name);
  return { label, source: '/model/', mounts };
}

/**
 * `auto` | `mini` | `test` (in a checkout at `root`), a folder, or an http(s) URL of a folder. Rejects with an
 * `InputError` naming `--model` and what is missing.
 */
export function resolveModel(spec: string, root: string): ResolvedModel {
  if (/^https?:\/\//i.test(spec)) return { label: spec, source: spec.endsWith('/') ? spec : `${spec}/`, mounts: {} };
  const mini = join(root, 'models', 'flap-mini');
  const testConfig = join(root, 'weights-tools', 'configs', 'test.json');
  const testWeights = join(root, 'tests', 'fixtures', 'test_weights.safetensors');
  const hasMini = isFile(join(mini, 'weights.safetensors'));
  const hasTest = isFile(testConfig) && isFile(testWeights);
  const test = (): ResolvedModel => ({
    label: 'test',
    source: { config: '/model/config.json', weights: '/model/weights.safetensors' },
    mounts: { '/model/config.json': testConfig, '/model/weights.safetensors': testWeights },
  });
  const elsewhere = 'models live in the repository (models/flap-mini), not in the npm package: give --model with a model folder or its URL';
  switch (spec) {
    case 'auto':
      if (hasMini) return folder(mini, 'flap-mini');
      if (hasTest) return test();
      throw new InputError('--model', `no model here; ${elsewhere}`);
    case 'mini':
      if (!hasMini) throw new InputError('--model', `models/flap-mini is not here; ${elsewhere}`);
      return folder(mini, 'flap-mini');
    case 'test':
      if (!hasTest) throw new InputError('--model', `the test config and its weights are not here (they are in a checkout of the repository); ${elsewhere}`);
      return test();
    default:
      return folder(resolve(spec), spec);
  }
}
