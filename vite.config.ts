// `npm run build`: the demo as a static site in site/ (site/demo/index.html), with what it fetches at run time
// copied beside it under the same paths: the bundled samples, the shipped model (when present), the `test`
// config's weights that it falls back to, and the element example (demo/avatar.html, plain HTML that loads the
// library's dist/element.js, so `npm run build` builds the library first). `npm run demo` serves the sources.
// The library itself is built by `npm run build:lib` (scripts/build-lib.mjs) into dist/; the demo is not part of
// the package.
import { cpSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const RUNTIME_FILES = ['demo/samples', 'demo/avatar.html', 'dist', 'models/flap-mini', 'weights-tools/configs/test.json', 'tests/fixtures/test_weights.safetensors'];

function copyRuntimeFiles(): Plugin {
  let outDir = 'site';
  return {
    name: 'flap-copy-runtime-files',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      for (const path of RUNTIME_FILES) {
        if (existsSync(path)) cpSync(path, resolve(outDir, path), { recursive: true });
      }
    },
  };
}

export default defineConfig({
  plugins: [copyRuntimeFiles()],
  build: {
    outDir: 'site',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: { demo: resolve(import.meta.dirname, 'demo/index.html') } },
  },
});
