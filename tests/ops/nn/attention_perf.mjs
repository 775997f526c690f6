// Informal GFLOP/s of the attention variants in Node (Dawn; SwiftShader here), counting 4*Lq*Lk*d flops:
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node tests/ops/nn/attention_perf.mjs [variant ...]
// Loads the TypeScript sources through Vite's SSR loader (which understands `?raw` shader imports).
import { createServer } from 'vite';

const server = await createServer({ configFile: false, root: process.cwd(), logLevel: 'error', server: { middlewareMode: true, hmr: false, watch: null }, optimizeDeps: { noDiscovery: true, include: [] } });
try {
  const { createDevice } = await server.ssrLoadModule('/src/runtime/device.ts');
  const { attention } = await server.ssrLoadModule('/src/ops/nn/attention.ts');
  const device = await createDevice();
  console.log(`adapter: ${device.info.description || device.info.vendor}, cpu-backed ${device.info.isCpuBacked}`);
  const variants = process.argv.slice(2).length ? process.argv.slice(2) : ['rows'];
  const shapes = [
    { B: 1, heads: 8, d: 8, lq: 1024, lk: 1024 },
    { B: 1, heads: 2, d: 40, lq: 1024, lk: 2048 },
    { B: 1, heads: 1, d: 64, lq: 1024, lk: 1024 },
    { B: 1, heads: 1, d: 80, lq: 1024, lk: 1024 },
    { B: 1, heads: 1, d: 160, lq: 256, lk: 256 },
    { B: 2, heads: 8, d: 40, lq: 1024, lk: 16 },
  ];
  for (const s of shapes) {
    const C = s.heads * s.d;
    const fill = (n, m) => Float32Array.from({ length: n }, (_, i) => ((i * m) % 17) / 17 - 0.5);
    const q = device.tensor([s.B, s.lq, C], 'f32', fill(s.B * s.lq * C, 3));
    const k = device.tensor([s.B, s.lk, C], 'f32', fill(s.B * s.lk * C, 5));
    const v = device.tensor([s.B, s.lk, C], 'f32', fill(s.B * s.lk * C, 7));
    const flops = 4 * s.B * s.heads * s.lq * s.lk * s.d;
    for (const variant of variants) {
      attention(q, k, v, { heads: s.heads, variant }).release();
      await device.sync();
      const times = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        attention(q, k, v, { heads: s.heads, variant }).release();
        await device.sync();
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      const ms = times[1];
      console.log(`B${s.B} h${s.heads} d${s.d} ${s.lq}x${s.lk} ${variant}: ${ms.toFixed(1)} ms, ${(flops / ms / 1e6).toFixed(2)} GFLOP/s`);
    }
    for (const t of [q, k, v]) t.release();
  }
  device.destroy();
} finally {
  await server.close();
}
