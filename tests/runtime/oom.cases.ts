/**
 * Out of GPU memory, provoked for real: a tensor of the device's largest buffer size, which SwiftShader (and any
 * adapter with less free memory than its `maxBufferSize`) cannot back. The failure must come back as an
 * `OutOfMemoryError` naming the tensor and its bytes, free the pool's cached buffers, leak nothing, and leave the
 * device working. `retryOnOutOfMemory` is checked on a device whose GPU refuses buffers past a budget (by asking
 * the real GPU for one it cannot hold), so trimming the pool is what lets the second attempt through.
 */
import { OutOfMemoryError } from '../../src/errors';
import { add } from '../../src/ops/math/binary';
import { FlapDevice } from '../../src/runtime/device';
import { BufferUsage } from '../../src/runtime/gpu_constants';
import type { RuntimeStats } from '../../src/runtime/stats';
import { assert, assertClose, assertEqual, assertThrows } from '../harness/assert';
import type { Cases } from '../harness/cases';

const MiB = 1024 * 1024;

/** Allocates, releases and submits tensors of these sizes, so their buffers sit cached in the pool. */
async function cache(device: FlapDevice, sizes: number[]): Promise<number> {
  const ts = sizes.map((bytes) => device.tensor([bytes / 4], 'f32'));
  for (const t of ts) t.release();
  await device.sync();
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * Nothing leaked since `before`: the same bytes in use, and once the pool's cache is emptied, the same bytes
 * allocated less the `freed` bytes that were cached at `before` and trimmed since.
 */
function assertNoLeak(device: FlapDevice, before: RuntimeStats, freed: number, what: string): void {
  device.trim();
  assertEqual(device.stats.bytesInUse, before.bytesInUse, `${what}: bytes in use`);
  assertEqual(device.stats.bytesAllocated, before.bytesAllocated - freed, `${what}: bytes allocated (the cached ${freed} freed)`);
}

/** Runs an add and checks its values: the device still computes. */
async function stillWorks(device: FlapDevice): Promise<void> {
  const a = device.tensor([5, 7], 'f32', Float32Array.from({ length: 35 }, (_, i) => i));
  const b = device.tensor([5, 7], 'f32', new Float32Array(35).fill(0.5));
  const c = add(a, b);
  assertClose(await c.read(), Float32Array.from({ length: 35 }, (_, i) => i + 0.5), { atol: 0, label: 'a + b after the failure' });
  for (const t of [a, b, c]) t.release();
  await device.sync();
}

/**
 * A device over `real`'s GPU that refuses, with a genuine out-of-memory error, any new buffer taking the
 * runtime's allocations past `limit.bytes`: it asks the GPU for `maxBufferSize` bytes instead.
 */
export function budgetDevice(real: FlapDevice): { device: FlapDevice; limit: { bytes: number } } {
  const limit = { bytes: Infinity };
  let device: FlapDevice | undefined;
  const gpu = real.gpu;
  const proxy = new Proxy(gpu, {
    get(target, prop) {
      if (prop === 'createBuffer') {
        return (d: GPUBufferDescriptor) => {
          const over = device && device.stats.bytesAllocated + d.size > limit.bytes;
          return target.createBuffer(over ? { ...d, size: real.info.limits.maxBufferSize } : d);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  device = new FlapDevice(proxy, real.info, 'budget');
  return { device, limit };
}

/** Whether this adapter refuses a buffer of its own `maxBufferSize` (SwiftShader does; a large GPU may not). */
export async function refusesLargest(device: FlapDevice): Promise<boolean> {
  device.gpu.pushErrorScope('out-of-memory');
  const b = device.gpu.createBuffer({ size: device.info.limits.maxBufferSize, usage: BufferUsage.STORAGE });
  const error = await device.gpu.popErrorScope();
  b.destroy();
  return error !== null;
}

export const cases: Cases = {
  'a tensor the GPU cannot hold: OutOfMemoryError naming it, the pool trimmed, nothing leaked, the device usable': async ({ openDevice, log }) => {
    const device = await openDevice();
    const max = device.info.limits.maxBufferSize;
    if (!(await refusesLargest(device))) {
      log(`this adapter allocates ${max} bytes: no failure to provoke`);
      return;
    }
    const cached = await cache(device, [1 * MiB, 3 * MiB]);
    const before = { ...device.stats };
    const huge = device.tensor([max / 4], 'f32', undefined, 'huge activations');
    const e = await assertThrows(() => device.sync(), OutOfMemoryError, /huge activations/);
    assertEqual(e.code, 'OUT_OF_MEMORY', 'code');
    assertEqual(e.bytes, max, 'bytes asked for');
    assert(e.tensor.includes(`[${max / 4}] f32`), `the tensor's shape and dtype in "${e.tensor}"`);
    assert(e.message.includes(String(max)), `bytes in the message "${e.message}"`);
    log(e.message);
    assertEqual(device.stats.bytesAllocated, before.bytesAllocated - cached + max, 'the cached buffers were freed when the allocation failed');
    huge.release();
    await device.sync(); // the failed buffer is destroyed at the submit, never handed out again
    assertNoLeak(device, before, cached, 'after releasing the failed tensor');
    await stillWorks(device);
    // A second failure is reported the same way: the first left nothing behind.
    const again = device.tensor([max / 4], 'f32');
    await assertThrows(() => again.read(), OutOfMemoryError, /bytes for tensor/);
    again.release();
    await stillWorks(device);
    assertNoLeak(device, before, cached, 'after the second failure');
  },

  'the failure inside work: the op using the refused tensor reports OutOfMemoryError, not its validation errors': async ({ openDevice }) => {
    const device = await openDevice();
    const max = device.info.limits.maxBufferSize;
    if (!(await refusesLargest(device))) return;
    const before = { ...device.stats };
    const run = device.scopeAsync(async () => {
      const x = device.tensor([max / 4], 'f32', undefined, 'x');
      const y = add(x, x);
      return y.read();
    });
    await assertThrows(() => run, OutOfMemoryError, /"x"/);
    await device.sync();
    assertNoLeak(device, before, 0, 'after the scope');
    await stillWorks(device);
  },

  'retryOnOutOfMemory: trims the cached buffers and runs once more; a second failure is thrown': async ({ openDevice, log }) => {
    const real = await openDevice();
    if (!(await refusesLargest(real))) {
      log('this adapter allocates its maxBufferSize: the budget device cannot provoke a failure');
      return;
    }
    const { device, limit } = budgetDevice(real);
    try {
      const start = { ...device.stats };
      const cached = await cache(device, [6 * MiB, 12 * MiB]);
      // The work needs 24 MiB (x, x + x and the readback's staging, 8 MiB each): within the budget only once the
      // 18 cached MiB are gone.
      limit.bytes = start.bytesAllocated + 25 * MiB;
      let attempts = 0;
      const n = await device.retryOnOutOfMemory(async () => {
        attempts++;
        return device.scopeAsync(async () => {
          const x = device.tensor([2 * MiB], 'f32', undefined, 'needs room');
          return (await add(x, x).read()).length;
        });
      });
      assertEqual(attempts, 2, 'attempts');
      assertEqual(n, 2 * MiB, 'the second attempt ran to the end');
      assertEqual(device.stats.bytesInUse, start.bytesInUse, 'bytes in use after the retried work');
      log(`the first attempt was refused with ${cached} bytes cached; the second ran after trimming them`);

      // Nothing cached to free: the failure is thrown at once.
      await device.sync();
      device.trim();
      let tries = 0;
      await assertThrows(() => device.retryOnOutOfMemory(async () => {
        tries++;
        const x = device.tensor([(32 * MiB) / 4], 'f32', undefined, 'too big');
        try {
          await device.sync();
        } finally {
          x.release();
        }
      }), OutOfMemoryError, /too big/);
      assertEqual(tries, 1, 'no retry when trimming frees nothing');
      await device.sync(); // the refused buffer, released, is destroyed at the submit and leaves the budget
      await stillWorks(device);
      assertNoLeak(device, start, 0, 'after both');
    } finally {
      device.destroy();
    }
  },
};
