/** docs/api.md, the API reference in the README, is what scripts/api-docs.mjs makes from the doc comments now. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';

test('docs/api.md is generated from the current doc comments (npm run docs)', () => {
  const root = resolve(import.meta.dirname, '../..');
  const r = spawnSync(process.execPath, ['scripts/api-docs.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  expect(r.stderr.trim(), r.stderr).toBe('docs/api.md is up to date');
  expect(r.status).toBe(0);
});
