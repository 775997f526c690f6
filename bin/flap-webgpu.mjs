#!/usr/bin/env node
// Command-line entry: `flap-webgpu render …` (see `flap-webgpu --help`). It runs the compiled command line
// (dist/cli.js, built from src/cli/ with the library), which renders in headless Chromium through a prebuilt page
// served by a small static server: no compiler, bundler or dev server at run time.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write(`flap-webgpu: ${cli} is missing: in a checkout of the repository, build it first with \`npm run build:lib\`\n`);
  process.exit(1);
}
let code = 1;
try {
  const { main } = await import(pathToFileURL(cli).href);
  code = await main(process.argv.slice(2), root);
} catch (e) {
  process.stderr.write(`flap-webgpu: ${e instanceof Error ? e.message : String(e)}\n`);
}
process.exit(code);
