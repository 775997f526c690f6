import { DeviceLostError, ShapeError, UseAfterFreeError, LimitExceededError } from '../../src/errors';
import { add, mul } from '../../src/ops/math/binary';
import { assert, assertClose, assertEqual, assertThrows } from '../harness/assert';
import type { Cases } from '../harness/cases';

export const cases: Cases = {
  'reports the adapter, its limits and features': ({ device, where, log }) => {
    const { info } = device;
    log(`[${where}] adapter: ${info.vendor} / ${info.architecture} / ${info.description}; cpu-backed ${info.isCpuBacked}`);
    log(`[${where}] features ${JSON.stringify(info.features)}, maxStorageBufferBindingSize ${info.limits.maxStorageBufferBindingSize}`);
    assert(info.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024, 'binding limit is at least the default 128 MiB');
    assert(info.limits.maxBufferSize >= info.limits.maxStorageBufferBindingSize || info.limits.maxBufferSize >= 256 * 1024 * 1024, 'buffer limit');
    assertEqual(info.isNode, where === 'node', 'isNode');
  },

  'round-trips f32 and f16 data': async ({ device }) => {
    const x = device.tensor([3, 5], 'f32', Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3));
    assertClose(await x.read(), Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3), { atol: 0, rtol: 0 });
    const h = device.tensor([7], 'f16', [1, -2, 0.5, 65504, 1e-3, 3.14159, -0]);
    assertClose(await h.read(), [1, -2, 0.5, 65504, 1e-3, 3.14159, -0], { atol: 0, rtol: 1e-3 });
    x.release();
    h.release();
  },

  'scopes free intermediates and keep what is returned': ({ device }) => {
    const before = device.stats.bytesInUse;
    const kept = device.scope(() => {
      const a = device.tensor([64], 'f32');
      const b = device.tensor([64], 'f32');
      device.tensor([1024], 'f32');
      return add(a, b);
    });
    assert(device.stats.bytesInUse > before, 'the returned tensor is alive');
    assert(!kept.isReleased, 'returned tensor kept');
    kept.release();
    assertEqual(device.stats.bytesInUse, before, 'bytes in use after release');
  },

  'a repeated step reuses its bind groups (uniforms at a dynamic offset) and still computes with its own values': async ({ device }) => {
    const a = device.tensor([300], 'f32', Float32Array.from({ length: 300 }, (_, i) => i));
    const b = device.tensor([300], 'f32', new Float32Array(300).fill(1));
    const created: number[] = [];
    const encode0 = device.stats.encodeMs;
    for (let step = 0; step < 8; step++) {
      const before = device.stats.bindGroupsCreated;
      const y = add(a, b);
      const z = mul(y, b);
      const values = await z.read(); // submits: the pool hands released buffers out again, in a cycle of steps
      assertClose(values, Float32Array.from({ length: 300 }, (_, i) => i + 1), { atol: 0, rtol: 0, label: `step ${step}` });
      y.release();
      z.release();
      created.push(device.stats.bindGroupsCreated - before);
    }
    assert(created[0]! > 0, 'the first step creates its bind groups');
    assertEqual(created.slice(4), [0, 0, 0, 0], 'bind groups created once the pool cycles (steps 5 to 8)');
    assert(device.stats.encodeMs > encode0, 'encoding time is counted');
    a.release();
    b.release();
  },

  'a released tensor cannot be used': async ({ device }) => {
    const t = device.tensor([4], 'f32', [1, 2, 3, 4]);
    const v = t.reshape([2, 2]);
    t.release();
    assertClose(await v.read(), [1, 2, 3, 4], { atol: 0 }); // the view keeps the storage alive
    v.release();
    await assertThrows(() => t.read(), UseAfterFreeError);
    await assertThrows(() => add(t, t), UseAfterFreeError);
  },

  'bad shapes and sizes raise typed errors': async ({ device }) => {
    await assertThrows(() => device.tensor([2, -1]), ShapeError);
    await assertThrows(() => device.tensor([2, 1.5]), ShapeError);
    await assertThrows(() => device.tensor([2], 'f32', [1, 2, 3]), ShapeError);
    const huge = device.info.limits.maxBufferSize;
    await assertThrows(() => device.tensor([huge], 'f32'), LimitExceededError);
    const t = device.tensor([6], 'f32');
    await assertThrows(() => t.reshape([4, -1]), ShapeError);
    await assertThrows(() => t.view(1, [2]), ShapeError, /256/);
    t.release();
  },

  'profile() times every op, on the GPU where timestamps exist': async ({ device, log }) => {
    const a = device.tensor([1000], 'f32', new Float32Array(1000).fill(1));
    const { result, report } = await device.profile(async () => {
      let x = add(a, a);
      for (let i = 0; i < 9; i++) {
        const y = add(x, a);
        x.release();
        x = y;
      }
      return x;
    });
    assertClose(await result.read(), new Float32Array(1000).fill(11), { atol: 0 });
    log(`profile source ${report.source}: ${report.rows.map((r) => `${r.key} ${r.calls}x ${r.ms.toFixed(3)} ms`).join('; ')}`);
    assertEqual(report.source, device.info.features.timestampQuery ? 'gpu-timestamps' : 'cpu-encode', 'source');
    assertEqual(report.rows.map((r) => [r.key, r.calls]), [['binary[OP=add,RANK=0,WG=256]', 10]], 'rows');
    assert(report.opMs >= 0 && report.wallMs > 0, 'times are measured');
    result.release();
    a.release();
  },

  'device loss surfaces as DeviceLostError naming the operation': async ({ openDevice }) => {
    const d = await openDevice();
    const a = d.tensor([8], 'f32', new Float32Array(8).fill(1));
    d.gpu.destroy(); // simulate a lost device
    const e = await assertThrows(async () => {
      const s = add(a, a);
      await s.read();
    }, DeviceLostError);
    assert(/during (read|binary)/.test(e.message), `message names the operation: ${e.message}`);
    await assertThrows(() => add(a, a), DeviceLostError, /binary\[/);
  },
};
