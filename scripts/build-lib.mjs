#!/usr/bin/env node
// `npm run build:lib` (and `prepack`): the package's dist/.
//
//   dist/index.js        browser entry (`flap-webgpu`): ESM, WGSL inlined, mediabunny bundled (in a chunk loaded
//                        only by encodeVideo), so it runs in a browser from a plain <script type="module">
//   dist/element.js      `flap-webgpu/element`: defines <flap-avatar>
//   dist/chunks/         code shared by the entries
//   dist/cli/            the command line's prebuilt render page (render.html + page.js)
//   dist/node.js         `flap-webgpu/node`: Node helpers (file sources, model folders); imports the browser entry
//   dist/cli.js          the command line (bin/flap-webgpu.mjs runs it)
//   dist/types/          .d.ts for every entry, from the doc-commented sources
//
// Two Vite builds (browser, then Node) and tsc for the declarations. Nothing here is needed at run time.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const src = (p) => join(root, 'src', p);
const t0 = Date.now();

rmSync(dist, { recursive: true, force: true });

const common = {
  configFile: false,
  root,
  logLevel: 'warn',
  publicDir: false,
};

// 1. Browser: every dependency bundled, shared code in chunks.
await build({
  ...common,
  build: {
    outDir: dist,
    emptyOutDir: false,
    target: 'es2022',
    minify: false,
    sourcemap: false,
    copyPublicDir: false,
    lib: {
      entry: { index: src('index.ts'), element: src('element/flap_avatar.ts'), 'cli/page': src('cli/page.ts') },
      formats: ['es'],
    },
    rollupOptions: {
      output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
});
copyFileSync(src('cli/render.html'), join(dist, 'cli', 'render.html'));

// 2. Node: node.ts and the command line. Whatever they import from the library's own sources comes from the
// browser entry through the package's name (one copy of every class, so `instanceof` holds across entries);
// the server and browser helpers stay the plain .mjs files shipped in scripts/.
const nodeOnly = new Set([src('node.ts'), src('weights/node.ts'), src('ops/tune_file.ts'), src('cli/main.ts'), src('cli/args.ts'), src('cli/model.ts')]);
const scriptsDir = join(root, 'scripts');
await build({
  ...common,
  plugins: [
    {
      name: 'flap-node-externals',
      enforce: 'pre',
      async resolveId(source, importer, options) {
        if (!importer || source.startsWith('node:') || builtinModules.includes(source)) return null;
        if (source === 'puppeteer-core') return { id: source, external: true };
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
        if (!resolved || resolved.external) return resolved;
        if (resolved.id.startsWith(scriptsDir)) return { id: resolved.id, external: true };
        if (resolved.id.startsWith(join(root, 'src')) && !nodeOnly.has(resolved.id)) return { id: 'flap-webgpu', external: true };
        return resolved;
      },
    },
  ],
  build: {
    outDir: dist,
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    ssr: true,
    rollupOptions: {
      input: { node: src('node.ts'), cli: src('cli/main.ts') },
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/node-[name]-[hash].js' },
      makeAbsoluteExternalsRelative: true,
    },
  },
});
// Externals given by absolute path must come out relative to the file that imports them.
for (const file of ['node.js', 'cli.js']) {
  const path = join(dist, file);
  const text = readFileSync(path, 'utf8').replaceAll(scriptsDir, relative(dirname(path), scriptsDir));
  writeFileSync(path, text);
}

// 3. Declarations.
const tsconfig = join(dist, 'tsconfig.types.json');
writeFileSync(tsconfig, JSON.stringify({
  extends: '../tsconfig.json',
  compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: './types', rootDir: '../src' },
  include: ['../src'],
}));
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'inherit', cwd: root });
rmSync(tsconfig);
mkdirSync(join(dist, 'types'), { recursive: true });

process.stderr.write(`build:lib: dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
