/**
 * Headless Chromium with WebGPU, and the one place that knows this project's SwiftShader defaults. Plain
 * JavaScript, so that `.mjs` entry points (the command line of the installed package, the benchmarks, the test
 * command) import it without a TypeScript step; `chromium.d.mts` types it for TypeScript importers.
 *
 * - `FLAP_CHROMIUM` (or `PUPPETEER_EXECUTABLE_PATH`) names the browser; otherwise the first of
 *   `/usr/bin/chromium`, `/usr/bin/chromium-browser`, `/usr/bin/google-chrome` that exists.
 * - `FLAP_WEBGPU_ADAPTER` picks Chromium's WebGPU adapter: `swiftshader` (default: these machines have no GPU;
 *   SwiftShader is the CPU Vulkan inside Debian's `chromium`) or `default` (the real GPU).
 * - Dawn in Node (the `webgpu` package) finds SwiftShader through the Vulkan loader: `withSwiftShader(env)` sets
 *   `VK_ICD_FILENAMES` to Chromium's SwiftShader ICD when it is unset, the file exists and FLAP_WEBGPU_ADAPTER is
 *   not `default`.
 */
import { existsSync } from 'node:fs';

/** The Vulkan ICD of the SwiftShader that Debian's `chromium` package installs. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * `env` with `VK_ICD_FILENAMES` pointing at SwiftShader unless it is already set or the real GPU was asked for
 * (`FLAP_WEBGPU_ADAPTER=default`). Returns a copy; `env` is unchanged.
 */
export function withSwiftShader(env = process.env) {
  if (env.VK_ICD_FILENAMES || env.FLAP_WEBGPU_ADAPTER === 'default' || !existsSync(SWIFTSHADER_ICD)) return { ...env };
  return { ...env, VK_ICD_FILENAMES: SWIFTSHADER_ICD };
}

/** Applies `withSwiftShader` to this process's environment (before Dawn is loaded). */
export function useSwiftShaderByDefault() {
  const icd = withSwiftShader(process.env).VK_ICD_FILENAMES;
  if (icd) process.env.VK_ICD_FILENAMES = icd;
}

/** The browser binary to drive: the override, or the first standard path that exists (or the first standard path). */
export function chromiumPath(env = process.env) {
  const override = env.FLAP_CHROMIUM || env.PUPPETEER_EXECUTABLE_PATH;
  if (override) return override;
  return CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0];
}

/** Chromium's flags: WebGPU on (SwiftShader unless FLAP_WEBGPU_ADAPTER=default), nothing that talks to the network. */
export function chromiumArgs(env = process.env) {
  const adapter = env.FLAP_WEBGPU_ADAPTER || 'swiftshader';
  return [
    '--enable-unsafe-webgpu',
    ...(adapter === 'default' ? [] : [`--use-webgpu-adapter=${adapter}`]),
    '--enable-features=Vulkan',
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--disable-default-apps',
    '--disable-extensions',
    '--mute-audio',
  ];
}

/** Thrown when there is no browser to drive; the message names the path tried and how to fix it. */
export class BrowserNotFoundError extends Error {
  constructor(path) {
    super(
      `no Chromium at ${path}: flap-webgpu renders in headless Chromium (WebGPU and WebCodecs live there). ` +
        `Install it (Debian/Ubuntu: apt-get install chromium) or point FLAP_CHROMIUM at a Chromium or Chrome binary.`,
    );
    this.name = 'BrowserNotFoundError';
    this.path = path;
  }
}

/** Launches the system Chromium headless through puppeteer-core (which never downloads a browser). */
export async function launchChromium(options = {}) {
  const env = options.env ?? process.env;
  const executablePath = chromiumPath(env);
  if (!existsSync(executablePath)) throw new BrowserNotFoundError(executablePath);
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: chromiumArgs(env),
    env: withSwiftShader(env),
    protocolTimeout: options.protocolTimeout ?? 30 * 60 * 1000,
  });
}
