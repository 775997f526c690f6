/**
 * Starts one Vite dev server (serving the repository, so test pages import `src/` and `shaders/` exactly as
 * the app does) and one headless Chromium for the whole run; test files connect to both.
 */
import type { TestProject } from 'vitest/node';
import { createServer } from 'vite';
import { launchChromium } from '../../scripts/chromium';

export default async function setup(project: TestProject) {
  const server = await createServer({
    configFile: false,
    root: process.cwd(),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite server has no port');
  const browser = await launchChromium();
  project.provide('baseUrl', `http://127.0.0.1:${address.port}`);
  project.provide('browserWSEndpoint', browser.wsEndpoint());
  return async () => {
    await browser.close();
    await server.close();
  };
}
