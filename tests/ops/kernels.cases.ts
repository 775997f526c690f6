import { add } from '../../src/ops/math/binary';
import { linear } from '../../src/ops/math/matmul';
import { prepareKernels, recordKernels, type KernelManifest } from '../../src/ops/kernels';
import { groupNorm } from '../../src/ops/nn/norm';
import type { FlapDevice } from '../../src/runtime/device';
import { assert, assertEqual } from '../harness/assert';
import type { Cases } from '../harness/cases';

/** A few ops of different kernels, as a model would run them. */
function work(device: FlapDevice): void {
  device.scope(() => {
    const x = device.tensor([2, 3, 5, 8], 'f32', new Float32Array(240).fill(0.5));
    const w = device.tensor([8], 'f32', new Float32Array(8).fill(1));
    const y = groupNorm(add(x, x), w, w, 4, 1e-5, { silu: true });
    linear(y, device.tensor([6, 8], 'f32', new Float32Array(48).fill(0.1)), device.tensor([6], 'f32', new Float32Array(6)));
  });
}

export const cases: Cases = {
  'a recorded kernel manifest compiles ahead of use on a new device, so running the ops compiles nothing': async ({ openDevice }) => {
    const first = await openDevice();
    work(first);
    await first.sync();
    const manifest = JSON.parse(JSON.stringify(recordKernels(first))) as KernelManifest; // as saved to kernels.json
    assert(manifest.kernels.length >= 3, `${manifest.kernels.length} kernels recorded`);
    assertEqual(manifest.adapter, first.info.isCpuBacked ? 'cpu' : 'gpu', 'adapter kind');

    const second = await openDevice();
    const compiled = await prepareKernels(second, manifest);
    assertEqual(compiled, manifest.kernels.length, 'kernels compiled ahead');
    assertEqual(second.stats.pipelinesCompiled, compiled, 'pipelines after prepareKernels');
    work(second);
    await second.sync();
    assertEqual(second.stats.pipelinesCompiled, compiled, 'pipelines after running the same ops (no new compile)');

    const other = { adapter: manifest.adapter === 'cpu' ? 'gpu' : 'cpu', kernels: manifest.kernels } as KernelManifest;
    assertEqual(await prepareKernels(second, other), 0, 'a manifest of another kind of adapter is skipped');
    assertEqual(await prepareKernels(second, { adapter: manifest.adapter, kernels: [{ name: 'nonesuch', spec: {} }] }), 0, 'unknown kernels are skipped');
    assertEqual(await prepareKernels(second, undefined), 0, 'no manifest');
  },
};
