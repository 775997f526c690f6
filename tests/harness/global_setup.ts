/**
 * Starts one Vite dev server (serving the repository, so test pages import `src/` and `shaders/` exactly as
 * the app does) and one headless Chromium for the whole run; test files connect to both.
 */
import type { TestProject } from 'vitest/node';
import { launchChromium } from '../../scripts/chromium.mjs';
import { serve } from '../../scripts/serve.mjs';

export default async function setup(project: TestProject) {
  const server = await serve({ vite: true, root: process.cwd() });
  const browser = await launchChromium();
  project.provide('baseUrl', server.url);
  project.provide('browserWSEndpoint', browser.wsEndpoint());
  return async () => {
    await browser.close();
    await server.close();
  };
}
