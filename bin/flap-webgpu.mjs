#!/usr/bin/env node
// Command-line entry: starts a Vite server over the package (it serves the render page and loads the
// TypeScript CLI), then hands over to src/cli/main.ts. See `flap-webgpu --help`.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const server = await createServer({
  configFile: false,
  root,
  logLevel: 'error',
  server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
  optimizeDeps: { noDiscovery: true, include: [] },
});
let code = 1;
try {
  await server.listen();
  const { port } = server.httpServer.address();
  const { main } = await server.ssrLoadModule('/src/cli/main.ts');
  code = await main(process.argv.slice(2), `http://127.0.0.1:${port}`);
} catch (e) {
  process.stderr.write(`flap-webgpu: ${e instanceof Error ? e.message : String(e)}\n`);
} finally {
  await server.close();
}
process.exit(code);
