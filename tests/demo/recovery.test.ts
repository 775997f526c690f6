/**
 * The demo when its GPU device is lost: the page (served by the test run's Vite server) loads the test model, the
 * device is destroyed from outside, as a driver reset would, and the page must say so, offer to reload the model,
 * and, once asked, be ready again on a new device without a page reload.
 */
import puppeteer from 'puppeteer-core';
import { expect, inject, test } from 'vitest';

test('[chromium] demo: a lost GPU device is reported and the model reloads on a new one', async () => {
  const browser = await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 10 * 60 * 1000 });
  const page = await browser.newPage();
  try {
    // Keep a hand on every device the page opens, so the test can destroy the demo's.
    await page.evaluateOnNewDocument(() => {
      const devices: GPUDevice[] = [];
      (window as unknown as { testDevices: GPUDevice[] }).testDevices = devices;
      const request = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
        const device = await request.call(this, descriptor);
        devices.push(device);
        return device;
      };
    });
    await page.goto(`${inject('baseUrl')}/demo/?model=test`, { waitUntil: 'load' });
    const state = () => page.evaluate(() => document.body.dataset.state);
    const waitFor = (s: string, timeout: number) => page.waitForFunction((want: string) => [want, 'error'].includes(document.body.dataset.state ?? ''), { timeout, polling: 200 }, s);
    await waitFor('ready', 300_000);
    expect(await state(), await page.$eval('#status', (e) => e.textContent ?? '')).toBe('ready');
    expect(await page.$eval('#reload', (b) => (b as HTMLButtonElement).hidden)).toBe(true);

    await page.evaluate(() => (window as unknown as { testDevices: GPUDevice[] }).testDevices.at(-1)!.destroy());
    await waitFor('lost', 30_000); // the device's `lost` promise settles within moments
    const message = await page.$eval('#status', (e) => e.textContent ?? '');
    expect(await state(), message).toBe('lost');
    expect(message).toMatch(/GPU device was lost/);
    expect(await page.$eval('#reload', (b) => (b as HTMLButtonElement).hidden)).toBe(false);
    expect(await page.$eval('#go', (b) => (b as HTMLButtonElement).disabled)).toBe(true);

    await page.click('#reload');
    await page.waitForFunction(() => document.body.dataset.state !== 'lost' && document.body.dataset.state !== 'loading', { timeout: 300_000, polling: 200 });
    expect(await state(), await page.$eval('#status', (e) => e.textContent ?? '')).toBe('ready');
    expect(await page.evaluate(() => (window as unknown as { testDevices: GPUDevice[] }).testDevices.length)).toBe(2);
    expect(await page.$eval('#reload', (b) => (b as HTMLButtonElement).hidden)).toBe(true);
    expect(await page.$eval('#go', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    console.log(`demo: "${message}", then ready again on a new device`);
  } finally {
    await page.close();
    browser.disconnect();
  }
});
