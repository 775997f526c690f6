import { flags } from '../../src/flags';
import { add, mul } from '../../src/ops/math/binary';
import { BufferPool } from '../../src/runtime/buffer_pool';
import { assert, assertClose, assertEqual } from '../harness/assert';
import type { Cases } from '../harness/cases';

export const cases: Cases = {
  '1,000 adds in a scope reuse buffers and return to the starting bytes in use': async ({ device, log }) => {
    const a = device.tensor([37, 11], 'f32', Float32Array.from({ length: 407 }, (_, i) => i));
    const one = device.tensor([1], 'f32', [1]);
    const start = { ...device.stats };
    let createdAfterWarmup = 0;
    const result = device.scope(() => {
      let x = a;
      for (let i = 0; i < 1000; i++) {
        const next = add(x, one);
        if (x !== a) x.release(); // each intermediate dies as soon as the next exists
        x = next;
        // Released buffers are parked until their batch is submitted, so the first two batches warm the pool.
        if (i === 2 * flags.submitBatch) createdAfterWarmup = device.stats.buffersCreated;
      }
      return x;
    });
    const values = await result.read();
    assertClose(values, Float32Array.from({ length: 407 }, (_, i) => i + 1000), { atol: 0, rtol: 0, label: 'a + 1000' });
    result.release();
    const s = device.stats;
    log(`buffers created ${s.buffersCreated - start.buffersCreated}, dispatches ${s.dispatches - start.dispatches}, submits ${s.submits - start.submits}`);
    // The one buffer created since is the readback's staging buffer (counted since every allocation is).
    assertEqual(s.buffersCreated, createdAfterWarmup + 1, 'no pool buffer created after the first iterations');
    assertEqual(s.bytesInUse, start.bytesInUse, 'bytes in use back where they started');
    assert(s.dispatches - start.dispatches === 1000, 'one dispatch per add');
    assert(s.submits - start.submits <= 1000 / 8, 'dispatches are submitted in batches');
    a.release();
    one.release();
  },

  'a released buffer is not reused before the work reading it is submitted': async ({ device }) => {
    // x is read by the pending mul, then released; the next tensor of the same size must not get x's buffer
    // and overwrite it (by writeBuffer) before the mul runs.
    const x = device.tensor([64], 'f32', new Float32Array(64).fill(2));
    const y = mul(x, x);
    const xBuffer = x.buffer;
    x.release();
    const z = device.tensor([64], 'f32', new Float32Array(64).fill(-5));
    assert(z.buffer !== xBuffer, 'the parked buffer was not handed out again');
    assertClose(await y.read(), new Float32Array(64).fill(4), { atol: 0 });
    const w = device.tensor([64], 'f32'); // after the submit, reuse is fine
    assert(w.buffer === xBuffer, 'the buffer is reused once the work was submitted');
    y.release();
    z.release();
    w.release();
  },

  'buckets waste at most a third and respect 256-byte alignment': () => {
    for (const bytes of [1, 4, 255, 256, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1, 100 * 1024 * 1024 + 3]) {
      const b = BufferPool.bucket(bytes);
      assert(b >= bytes && b >= 256, `bucket(${bytes}) = ${b} holds the request`);
      assert(b <= Math.max(256, bytes * 1.5 + 1024 * 1024), `bucket(${bytes}) = ${b} wastes too much`);
      assertEqual(b % 4, 0, `bucket(${bytes}) alignment`);
    }
  },
};
