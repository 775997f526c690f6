// Informal GFLOP/s of matmul variants in Node (Dawn; SwiftShader here):
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node tests/ops/math/matmul_perf.mjs [auto|blocked8x8|tiled|splitk16 ...]
// MATMUL_SET=mini times the mini UNet's linear layers instead (20 frames; attention projections, GEGLU, outputs).
// Loads the TypeScript sources through Vite's SSR loader (which understands `?raw` shader imports).
import { createServer } from 'vite';

const server = await createServer({ configFile: false, root: process.cwd(), logLevel: 'error', server: { middlewareMode: true, hmr: false, watch: null }, optimizeDeps: { noDiscovery: true, include: [] } });
try {
  const { createDevice } = await server.ssrLoadModule('/src/runtime/device.ts');
  const { matmul, parseChoice } = await server.ssrLoadModule('/src/ops/math/matmul.ts');
  const device = await createDevice();
  console.log(`adapter: ${device.info.description || device.info.vendor}, cpu-backed ${device.info.isCpuBacked}`);
  const variants = process.argv.slice(2).length ? process.argv.slice(2) : ['blocked', 'splitk16'];
  const mini = [
    { M: 1280, N: 96, K: 96, transB: true },
    { M: 1280, N: 768, K: 96, transB: true },
    { M: 1280, N: 96, K: 384, transB: true },
    { M: 320, N: 160, K: 160, transB: true },
    { M: 320, N: 1280, K: 160, transB: true },
    { M: 320, N: 160, K: 640, transB: true },
  ];
  const general = [
    { M: 256, N: 256, K: 256, transB: false },
    { M: 1024, N: 320, K: 320, transB: false },
    { M: 1024, N: 320, K: 320, transB: true },
    { M: 1, N: 1280, K: 320, transB: true },
    { M: 4, N: 320, K: 1280, transB: true },
    { M: 16, N: 16, K: 8192, transB: false },
  ];
  const shapes = process.env.MATMUL_SET === 'mini' ? mini : general;
  for (const s of shapes) {
    const a = device.tensor([s.M, s.K], 'f32', Float32Array.from({ length: s.M * s.K }, (_, i) => (i % 13) / 13 - 0.5));
    const b = device.tensor(s.transB ? [s.N, s.K] : [s.K, s.N], 'f32', Float32Array.from({ length: s.K * s.N }, (_, i) => (i % 7) / 7 - 0.5));
    for (const v of variants) {
      const variant = v === 'auto' ? undefined : parseChoice(v); // 'auto': the default selection
      matmul(a, b, { transB: s.transB, variant }).release();
      await device.sync();
      // Small problems: several dispatches per sync, so the submit round trip does not dominate.
      const per = Math.max(1, Math.floor(2e7 / (2 * s.M * s.N * s.K)));
      // Wall time, and the process's CPU time (SwiftShader runs in it), which other work on the machine barely moves.
      const times = [];
      const cpu = [];
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        for (let i = 0; i < per; i++) matmul(a, b, { transB: s.transB, variant }).release();
        await device.sync();
        const dc = process.cpuUsage(c0);
        cpu.push((dc.user + dc.system) / 1000 / per);
        times.push((performance.now() - t0) / per);
      }
      const median = (v) => v.sort((x, y) => x - y)[2];
      const ms = median(times);
      const cpuMs = median(cpu);
      const flops = 2 * s.M * s.N * s.K;
      console.log(`${s.M}x${s.N}x${s.K}${s.transB ? ' (B^T)' : ''} ${v}: ${ms.toFixed(1)} ms, ${(flops / ms / 1e6).toFixed(2)} GFLOP/s, ${(flops / cpuMs / 1e6).toFixed(2)} per CPU-second`);
    }
    a.release();
    b.release();
  }
  device.destroy();
} finally {
  await server.close();
}
