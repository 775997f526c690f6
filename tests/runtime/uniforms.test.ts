import { describe, expect, it } from 'vitest';
import { uniformSchema } from '../../src/runtime/uniforms';
import { flatDispatch } from '../../src/runtime/kernel';

describe('[node] uniform schemas', () => {
  it('[node] lay fields out by WGSL alignment rules and pack them there', () => {
    const s = uniformSchema({ n: 'u32', eps: 'f32', shape: 'vec4<u32>', scale: 'vec2<f32>', strides: 'array<vec4<i32>, 2>' });
    expect(s.wgsl).toBe('struct Params {\n  n: u32,\n  eps: f32,\n  shape: vec4<u32>,\n  scale: vec2<f32>,\n  strides: array<vec4<i32>, 2>,\n}');
    expect(s.size).toBe(80); // n 0, eps 4, shape 16, scale 32, strides 48..80
    const view = new DataView(new ArrayBuffer(s.size));
    s.write(view, 0, { n: 7, eps: 0.5, shape: [1, 2, 3, 4], scale: [1.5, -2], strides: [-1, 2, 3] });
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getFloat32(4, true)).toBe(0.5);
    expect(view.getUint32(28, true)).toBe(4);
    expect(view.getFloat32(36, true)).toBe(-2);
    expect(view.getInt32(48, true)).toBe(-1);
    expect(view.getInt32(60, true)).toBe(0); // unspecified array tail is zero
  });

  it('[node] pad each column of a mat3x3 to 16 bytes', () => {
    const s = uniformSchema({ n: 'u32', m: 'mat3x3<f32>', k: 'u32' });
    expect(s.size).toBe(80); // n 0, m 16..64, k 64
    const view = new DataView(new ArrayBuffer(s.size));
    s.write(view, 0, { n: 1, m: [1, 2, 3, 4, 5, 6, 7, 8, 9], k: 5 });
    const f = (i: number) => view.getFloat32(16 + 4 * i, true);
    expect([f(0), f(1), f(2), f(4), f(5), f(6), f(8), f(9), f(10)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(view.getUint32(64, true)).toBe(5);
    expect(() => s.write(view, 0, { n: 1, m: [1, 2, 3], k: 0 })).toThrow(/3 values/);
  });

  it('[node] refuse missing fields and wrong vector lengths', () => {
    const s = uniformSchema({ n: 'u32', v: 'vec4<f32>' });
    const view = new DataView(new ArrayBuffer(s.size));
    expect(() => s.write(view, 0, { n: 1 } as never)).toThrow(/v is missing/);
    expect(() => s.write(view, 0, { n: 1, v: [1, 2] })).toThrow(/2 values/);
  });
});

describe('[node] dispatch folding', () => {
  it('[node] fold large dispatches into two dimensions within the limit', () => {
    expect(flatDispatch(100, 64)).toEqual([2, 1, 1]);
    const [x, y] = flatDispatch(65535 * 64 * 3 + 1, 64);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * 64).toBeGreaterThanOrEqual(65535 * 64 * 3 + 1);
  });
});
