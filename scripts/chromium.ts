/**
 * Launches the system Chromium (Debian's `chromium`) headless with WebGPU enabled. Shared by the test
 * harness, the benchmarks and the command line. `FLAP_CHROMIUM` overrides the binary; `FLAP_WEBGPU_ADAPTER`
 * picks the adapter (`swiftshader` by default, since these machines have no GPU; set it to `default` on a
 * machine with one).
 */
import puppeteer, { type Browser } from 'puppeteer';

export const chromiumPath = process.env.FLAP_CHROMIUM || process.env.PUPPETEER_EXECUTABLE_PATH || '/usr/bin/chromium';

export function chromiumArgs(): string[] {
  const adapter = process.env.FLAP_WEBGPU_ADAPTER ?? 'swiftshader';
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

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs(),
    protocolTimeout: 30 * 60 * 1000,
  });
}
