import { cast, copy } from '../../src/ops/tensor/cast';
import { f16BitsToF32, f32ToF16Bits } from '../../src/runtime/half';
import { assertClose, assertEqual, randomArray, rng } from '../harness/assert';
import type { Cases } from '../harness/cases';

const roundF16 = (v: ArrayLike<number>) => Float32Array.from(v, (x) => f16BitsToF32(f32ToF16Bits(x)));

export const cases: Cases = {
  'f32 -> f16 -> f32 rounds exactly like the CPU conversion, odd lengths included': async ({ device }) => {
    const r = rng(3);
    for (const n of [1, 2, 3, 7, 64, 255, 1001, 70001]) {
      const v = randomArray(n, r).map((x) => x * 300);
      await device.scopeAsync(async () => {
        const h = cast(device.tensor([n], 'f32', v), 'f16');
        assertEqual(h.dtype, 'f16', 'dtype');
        const back = cast(h, 'f32');
        assertClose(await back.read(), roundF16(v), { atol: 0, rtol: 0, label: `n=${n}` });
        assertClose(await h.read(), roundF16(v), { atol: 0, rtol: 0, label: `f16 read n=${n}` });
      });
    }
  },

  'f16 -> f32 unpack keeps subnormals, infinities and signed zeros': async ({ device }) => {
    const bits = Uint16Array.from([0x0001, 0x03ff, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x8000, 0x3c00, 0xc000]);
    const h = device.tensor([bits.length], 'f16', bits);
    const f = cast(h, 'f32');
    assertClose(await f.read(), Float32Array.from(bits, f16BitsToF32), { atol: 0, rtol: 0 });
    h.release();
    f.release();
  },

  'copy is a contiguous duplicate in the same dtype': async ({ device }) => {
    const v = randomArray(333, rng(5));
    const x = device.tensor([3, 111], 'f32', v);
    const y = copy(x);
    assertEqual(y.shape, [3, 111], 'shape');
    assertClose(await y.read(), v, { atol: 0, rtol: 0 });
    x.release();
    y.release();
  },
};
