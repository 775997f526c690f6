// `npm run build`: the demo and the benchmark page as a static site in site/ (site/demo/index.html,
// site/bench/index.html), with what they fetch at run time copied beside them under the same paths: the bundled
// samples, the shipped model (when present), the `test` config's weights that the demo falls back to, the element
// example (demo/avatar.html, plain HTML that loads the library's dist/element.js, so `npm run build` builds the
// library first), and for the benchmark page the peers' browser builds (bench/vendor.json, under bench/vendor/)
// and the ONNX graphs and step weights that bench/prepare.mjs made (when it could: they need Python). `npm run demo`
// serves the sources. The library itself is built by `npm run build:lib` (scripts/build-lib.mjs) into dist/; the
// demo and the benchmarks are not part of the package.
import { cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { siteFiles } from './bench/prepare.mjs';

const RUNTIME_FILES = ['demo/samples', 'demo/avatar.html', 'dist', 'models/flap-mini', 'weights-tools/configs/test.json', 'tests/fixtures/test_weights.safetensors'];

function copyRuntimeFiles(): Plugin {
  let outDir = 'site';
  let root = '.';
  return {
    name: 'flap-copy-runtime-files',
    apply: 'build',
    configResolved(config) {
      root = config.root;
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      for (const path of RUNTIME_FILES) {
        if (existsSync(path)) cpSync(path, resolve(outDir, path), { recursive: true });
      }
      let bytes = 0;
      for (const { from, to } of siteFiles()) {
        const source = resolve(root, from);
        if (!existsSync(source)) throw new Error(`the benchmark page needs ${from}: run npm ci`);
        mkdirSync(dirname(resolve(outDir, to)), { recursive: true });
        cpSync(source, resolve(outDir, to));
        bytes += statSync(source).size;
      }
      this.info(`benchmark page: ${(bytes / 1e6).toFixed(0)} MB of peers' builds, graphs and weights copied`);
    },
  };
}

export default defineConfig({
  plugins: [copyRuntimeFiles()],
  build: {
    outDir: 'site',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: { demo: resolve(import.meta.dirname, 'demo/index.html'), bench: resolve(import.meta.dirname, 'bench/index.html') },
    },
  },
});
