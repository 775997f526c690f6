/**
 * The demo's controls, as a user meets them (Vite dev server, headless Chromium, the `test` config with flap-mini's
 * head asset for the 3-D head): dragging the yaw slider with the mouse turns the 3-D head and moves the yaw curve at
 * once, before anything is generated; the setting lands in the address, and opening that address again shows the
 * same head.
 */
import puppeteer, { type Page } from 'puppeteer-core';
import { expect, inject, test } from 'vitest';

interface Demo {
  flapDemo: { previews: number; drawing: boolean };
  snapshots: Record<string, Uint8ClampedArray>;
}

/** Waits until the page is ready and the 3-D head has no drawing pending. */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), { timeout: 120_000, polling: 200 });
  expect(await page.evaluate(() => document.body.dataset.state), await page.$eval('#status', (e) => e.textContent ?? '')).toBe('ready');
  await page.waitForFunction(() => {
    const d = (window as unknown as Demo).flapDemo;
    return d.previews > 0 && !d.drawing;
  }, { timeout: 60_000, polling: 50 });
}

/** Keeps the pixels of a 2-D canvas under `name`, and says how many pixels differ from those kept under `other`. */
function snapshot(page: Page, canvas: string, name: string, other?: string): Promise<number> {
  return page.evaluate((id, n, o) => {
    const el = document.getElementById(id) as HTMLCanvasElement;
    const w = window as unknown as Demo;
    w.snapshots ??= {};
    const data = el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data;
    w.snapshots[n] = data;
    if (!o) return 0;
    const before = w.snapshots[o]!;
    let changed = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] !== before[i] || data[i + 1] !== before[i + 1] || data[i + 2] !== before[i + 2]) changed++;
    return changed;
  }, canvas, name, other ?? '');
}

/** Every 997th byte of the 3-D head's pixels. */
function sample(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const el = document.getElementById('head') as HTMLCanvasElement;
    return Array.from(el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data.filter((_, i) => i % 997 === 0));
  });
}

test('[chromium] demo: dragging the yaw slider turns the 3-D head and moves the curves at once, and the address keeps it', async () => {
  const browser = await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 30 * 60 * 1000 });
  const page = await browser.newPage();
  try {
    await page.setViewport({ width: 1150, height: 1000 });
    await page.goto(`${inject('baseUrl')}/demo/?model=test`, { waitUntil: 'load' });
    await settled(page);
    expect(await page.$eval('#head3d', (e) => (e as HTMLElement).hidden)).toBe(false);
    await snapshot(page, 'head', 'head0');
    await snapshot(page, 'plot', 'plot0');
    // Nothing moves by itself: the same frame drawn again is the same picture.
    await page.$eval('#t', (e) => e.dispatchEvent(new Event('input')));
    await settled(page);
    expect(await snapshot(page, 'head', 'again', 'head0')).toBe(0);

    const box = (await (await page.$('#yaw'))!.boundingBox())!;
    const y = box.y + box.height / 2;
    const drawsBefore = await page.evaluate(() => (window as unknown as Demo).flapDemo.previews);
    const t0 = Date.now();
    await page.mouse.move(box.x + box.width / 2, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.85, y, { steps: 6 });
    await page.mouse.up();
    await settled(page);
    const latency = Date.now() - t0;
    const yaw = Number(await page.$eval('#yaw', (e) => (e as HTMLInputElement).value));
    expect(yaw).toBeGreaterThanOrEqual(15);
    expect(new URL(page.url()).searchParams.get('yaw')).toBe(String(yaw));
    expect(await page.evaluate(() => (window as unknown as Demo).flapDemo.previews)).toBeGreaterThan(drawsBefore);
    const headChanged = await snapshot(page, 'head', 'head1', 'head0');
    const plotChanged = await snapshot(page, 'plot', 'plot1', 'plot0');
    expect(headChanged).toBeGreaterThan(2000);
    expect(plotChanged).toBeGreaterThan(100);
    expect(await page.evaluate(() => document.querySelector('output[for=yaw]')!.textContent)).toBe(String(yaw));

    // The address reproduces the setting: opening it again draws the same head.
    const turned = await sample(page);
    const shared = page.url();
    await page.goto(shared, { waitUntil: 'load' });
    await settled(page);
    expect(Number(await page.$eval('#yaw', (e) => (e as HTMLInputElement).value))).toBe(yaw);
    expect(await sample(page)).toEqual(turned);
    console.log(`demo controls: yaw ${yaw}°, ${headChanged} head pixels and ${plotChanged} curve pixels changed, redrawn ${latency} ms after the drag began; ${shared}`);
  } finally {
    await page.close();
    browser.disconnect();
  }
});
