/**
 * End to end: the built demo (`vite build`, served as static files by `vite preview`) in headless Chromium
 * generates a short video from the bundled samples (the test config, 2 steps), with progress events, a playable
 * WebM whose duration is the audio's within one frame, and a screenshot of the finished page.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { build, preview } from 'vite';
import { expect, inject, test } from 'vitest';

test('[chromium] built demo: bundled portrait + speech → progress → playable WebM → screenshot', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'flap-demo-'));
  await build({ logLevel: 'error', build: { outDir } });
  const server = await preview({ logLevel: 'error', build: { outDir }, preview: { host: '127.0.0.1', port: 0 } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview has no port');
  const browser = await puppeteer.connect({ browserWSEndpoint: inject('browserWSEndpoint'), protocolTimeout: 30 * 60 * 1000 });
  const page = await browser.newPage();
  try {
    await page.setViewport({ width: 1100, height: 900 });
    await page.goto(`http://127.0.0.1:${address.port}/demo/?model=test&steps=2&auto`, { waitUntil: 'load' });
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), { timeout: 600_000, polling: 1000 });
    const status = await page.$eval('#status', (e) => e.textContent);
    expect(await page.evaluate(() => document.body.dataset.state), status ?? '').toBe('done');
    const result = (await page.evaluate(() => (window as unknown as { flapResult: { bytes: number; frames: number; fps: number; audioSeconds: number } }).flapResult));
    const progressEvents = await page.evaluate(() => (window as unknown as { flapDemo: { progress: number } }).flapDemo.progress);
    expect(progressEvents).toBeGreaterThan(10);
    expect(result.bytes).toBeGreaterThan(10_000);
    // The player reads the file back: its duration must be the audio's within one frame.
    const duration = await page.evaluate(async () => {
      const v = document.getElementById('player') as HTMLVideoElement;
      if (!Number.isFinite(v.duration) || v.readyState < 1) await new Promise((r) => v.addEventListener('loadedmetadata', r, { once: true }));
      if (!Number.isFinite(v.duration)) {
        // WebM from a live muxer may lack a duration header until the end is seen.
        v.currentTime = 1e9;
        await new Promise((r) => v.addEventListener('seeked', r, { once: true }));
      }
      return v.duration;
    });
    expect(Math.abs(duration - result.audioSeconds)).toBeLessThanOrEqual(1 / result.fps + 1e-3);
    expect(result.frames).toBe(Math.floor(result.audioSeconds * result.fps));
    const shot = await page.screenshot({ type: 'png' });
    expect(shot.length).toBeGreaterThan(20_000);
    console.log(`demo: ${result.frames} frames, ${result.bytes} bytes, duration ${duration.toFixed(3)} s (audio ${result.audioSeconds.toFixed(3)} s), ${progressEvents} progress events; status: ${status}`);
  } finally {
    await page.close();
    browser.disconnect();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
});
