// Informal GFLOP/s of matmul variants in Node (Dawn; SwiftShader here):
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node tests/ops/math/matmul_perf.mjs [auto|blocked8x8|tiled|splitk16 ...]
// Loads the TypeScript sources through Vite's SSR loader (which understands `?raw` shader imports).
import { createServer } from 'vite';

const server = await createServer({ configFile: false, root: process.cwd(), logLevel: 'error', server: { middlewareMode: true, hmr: false, watch: null }, optimizeDeps: { noDiscovery: true, include: [] } });
try {
  const { createDevice } = await server.ssrLoadModule('/src/runtime/device.ts');
  const { matmul, parseChoice } = await server.ssrLoadModule('/src/ops/math/matmul.ts');
  const device = await createDevice();
  console.log(`adapter: ${device.info.description || device.info.vendor}, cpu-backed ${device.info.isCpuBacked}`);
  const variants = process.argv.slice(2).length ? process.argv.slice(2) : ['blocked', 'splitk16'];
  const shapes = [
    { M: 256, N: 256, K: 256, transB: false },
    { M: 1024, N: 320, K: 320, transB: false },
    { M: 1024, N: 320, K: 320, transB: true },
    { M: 1, N: 1280, K: 320, transB: true },
    { M: 4, N: 320, K: 1280, transB: true },
    { M: 16, N: 16, K: 8192, transB: false },
  ];
  for (const s of shapes) {
    const a = device.tensor([s.M, s.K], 'f32', Float32Array.from({ length: s.M * s.K }, (_, i) => (i % 13) / 13 - 0.5));
    const b = device.tensor(s.transB ? [s.N, s.K] : [s.K, s.N], 'f32', Float32Array.from({ length: s.K * s.N }, (_, i) => (i % 7) / 7 - 0.5));
    for (const v of variants) {
      const variant = v === 'auto' ? undefined : parseChoice(v); // 'auto': the default selection
      matmul(a, b, { transB: s.transB, variant }).release();
      await device.sync();
      // Small problems: several dispatches per sync, so the submit round trip does not dominate.
      const per = Math.max(1, Math.floor(2e7 / (2 * s.M * s.N * s.K)));
      const times = [];
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        for (let i = 0; i < per; i++) matmul(a, b, { transB: s.transB, variant }).release();
        await device.sync();
        times.push((performance.now() - t0) / per);
      }
      times.sort((x, y) => x - y);
      const ms = times[2];
      console.log(`${s.M}x${s.N}x${s.K}${s.transB ? ' (B^T)' : ''} ${v}: ${ms.toFixed(1)} ms, ${((2 * s.M * s.N * s.K) / ms / 1e6).toFixed(2)} GFLOP/s`);
    }
    a.release();
    b.release();
  }
  device.destroy();
} finally {
  await server.close();
}
