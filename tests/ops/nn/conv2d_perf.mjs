// Informal GFLOP/s of conv2d in Node (Dawn; SwiftShader here) on the UNet's 3x3 shapes, counting 2·MACs:
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node tests/ops/nn/conv2d_perf.mjs [mini|sd15 ...]
// CONV_VARIANT='{"CO":8,"PX":4,"VEC":true}' forces a blocking.
// Loads the TypeScript sources through Vite's SSR loader (which understands `?raw` shader imports). bench/ is
// where numbers are reported; this is for trying a kernel change quickly. Besides wall time it reports the
// process's CPU time (SwiftShader runs in it), which other work on the machine barely moves.
import { createServer } from 'vite';

const server = await createServer({ configFile: false, root: process.cwd(), logLevel: 'error', server: { middlewareMode: true, hmr: false, watch: null }, optimizeDeps: { noDiscovery: true, include: [] } });
try {
  const { createDevice } = await server.ssrLoadModule('/src/runtime/device.ts');
  const { conv2d, prepareConvWeight } = await server.ssrLoadModule('/src/ops/nn/conv2d.ts');
  const device = await createDevice();
  console.log(`adapter: ${device.info.description || device.info.vendor}, cpu-backed ${device.info.isCpuBacked}`);
  const sets = {
    mini: [[20, 48, 16, 16, 48], [20, 96, 8, 8, 96], [20, 160, 4, 4, 160]],
    // The up blocks' first convs read the skip connection concatenated to the features.
    'mini-up': [[20, 320, 4, 4, 160], [20, 256, 8, 8, 96], [20, 144, 8, 8, 96], [20, 144, 16, 16, 48], [20, 96, 16, 16, 48]],
    sd15: [[1, 320, 32, 32, 320], [1, 640, 16, 16, 640]],
  };
  const chosen = process.argv.slice(2).length ? process.argv.slice(2) : ['mini'];
  for (const [n, c, h, w, o] of chosen.flatMap((s) => sets[s])) {
    const fill = (len, m) => Float32Array.from({ length: len }, (_, i) => ((i * m) % 17) / 17 - 0.5);
    const x = device.tensor([n, h, w, c], 'f32', fill(n * h * w * c, 3));
    const weight = device.tensor([o, c, 3, 3], 'f32', fill(o * c * 9, 5));
    const bias = device.tensor([o], 'f32', fill(o, 7));
    const prepared = prepareConvWeight(weight);
    const flops = 2 * n * h * w * o * c * 9;
    const variant = process.env.CONV_VARIANT ? JSON.parse(process.env.CONV_VARIANT) : undefined;
    const run = () => conv2d(x, prepared, bias, { padding: 1, variant }).release();
    run();
    await device.sync();
    const times = [];
    const cpu = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      run();
      await device.sync();
      const dc = process.cpuUsage(c0);
      cpu.push((dc.user + dc.system) / 1000);
      times.push(performance.now() - t0);
    }
    const median = (v) => v.sort((a, b) => a - b)[2];
    const [ms, cpuMs] = [median(times), median(cpu)];
    console.log(`n${n} c${c} h${h} w${w} o${o}: ${ms.toFixed(1)} ms wall, ${cpuMs.toFixed(1)} ms CPU, ${(flops / ms / 1e6).toFixed(2)} GFLOP/s wall, ${(flops / cpuMs / 1e6).toFixed(2)} per CPU-second`);
    for (const t of [x, weight, bias, prepared.weight]) t.release();
  }
  device.destroy();
} finally {
  await server.close();
}
