import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { applyControls, blinkSchedule, pingPong } from '../../src/controls/controls';
import { CoefficientSequence, Slices } from '../../src/controls/layout';
import { monotoneCubic } from '../../src/controls/interpolate';
import {
  axisAngleToEuler,
  axisAngleToMatrix,
  eulerToAxisAngle,
  eulerToMatrix,
  matrixTo6d,
  matrixToAxisAngle,
  sixdToMatrix,
} from '../../src/controls/rotation';

const seconds = (s: number, fps = 25) => CoefficientSequence.zeros(Math.round(s * fps), fps);

/** Counts closures: rising crossings of 0.5 by the left eyelid. */
function closures(seq: CoefficientSequence): number {
  let n = 0;
  let prev = 0;
  for (let f = 0; f < seq.frames; f++) {
    const v = seq.get(f, 'eyelids')[0]!;
    if (prev < 0.5 && v >= 0.5) n++;
    prev = v;
  }
  return n;
}

describe('[node] rotations', () => {
  it('[node] Euler, matrix, axis-angle and 6D forms round-trip', () => {
    for (const [y, p, r] of [[0, 0, 0], [20, 0, 0], [-35, 12, 5], [80, -50, 40], [0, 0, -59], [179, 0, 0]] as const) {
      const aa = eulerToAxisAngle(y, p, r);
      const back = axisAngleToEuler(aa);
      expect(back[0]).toBeCloseTo(y, 6);
      expect(back[1]).toBeCloseTo(p, 6);
      expect(back[2]).toBeCloseTo(r, 6);
      const m = eulerToMatrix(y, p, r);
      sixdToMatrix(matrixTo6d(m)).forEach((v, i) => expect(v).toBeCloseTo(m[i]!, 9));
      matrixToAxisAngle(axisAngleToMatrix(aa)).forEach((v, i) => expect(v).toBeCloseTo(aa[i]!, 6));
    }
  });
  it('[node] a pure yaw is a rotation about the y axis', () => {
    const aa = eulerToAxisAngle(20, 0, 0);
    expect(aa[0]).toBeCloseTo(0, 12);
    expect(aa[1]).toBeCloseTo((20 * Math.PI) / 180, 12);
    expect(aa[2]).toBeCloseTo(0, 12);
  });
});

describe('[node] keyframe interpolation', () => {
  it('[node] passes through the keys and never overshoots them', () => {
    const f = monotoneCubic([{ t: 0, value: 0 }, { t: 1, value: 20 }, { t: 1.5, value: 20 }, { t: 3, value: -10 }]);
    expect(f(1)).toBeCloseTo(20, 12);
    expect(f(3)).toBeCloseTo(-10, 12);
    for (let t = 0; t <= 3; t += 0.01) {
      expect(f(t)).toBeLessThanOrEqual(20 + 1e-9);
      expect(f(t)).toBeGreaterThanOrEqual(-10 - 1e-9);
    }
    expect(f(-1)).toBe(0);
    expect(f(9)).toBe(-10);
  });
});

describe('[node] controls', () => {
  it('[node] a yaw keyframe of 20 degrees at t = 1 s makes frame 25 encode 20 degrees', () => {
    const out = applyControls(seconds(2), { pose: { mode: 'keyframes', keyframes: [{ t: 0, yaw: 0 }, { t: 1, yaw: 20 }, { t: 2, yaw: 0 }] } });
    const [yaw, pitch, roll] = axisAngleToEuler(out.get(25, 'global_rot'));
    // Coefficients are float32: 20 degrees survives to about 1e-6.
    expect(yaw).toBeCloseTo(20, 5);
    expect(pitch).toBeCloseTo(0, 5);
    expect(roll).toBeCloseTo(0, 5);
    expect(axisAngleToEuler(out.get(12, 'global_rot'))[0]).toBeGreaterThan(0);
  });

  it('[node] blinking at 30 per minute over 10 s closes the eyes 5 ± 1 times, for several seeds', () => {
    for (const seed of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const out = applyControls(seconds(10), { blinks: { ratePerMinute: 30, seed } });
      const n = closures(out);
      expect(n).toBeGreaterThanOrEqual(4);
      expect(n).toBeLessThanOrEqual(6);
    }
    expect(closures(applyControls(seconds(10), { blinks: { mode: 'off' } }))).toBe(0);
    expect(blinkSchedule(60, 12, 3).length).toBeGreaterThanOrEqual(10);
  });

  it('[node] audio-driven blinks and pose pass through untouched when asked', () => {
    const base = seconds(1);
    base.get(3, 'eyelids').fill(0.9);
    base.get(3, 'global_rot').set(eulerToAxisAngle(10, 5, 0));
    const out = applyControls(base, { blinks: { mode: 'audio' } });
    expect(out.get(3, 'eyelids')[0]).toBeCloseTo(0.9, 6);
    expect(axisAngleToEuler(out.get(3, 'global_rot'))[0]).toBeCloseTo(10, 4);
    expect(base.get(3, 'eyelids')[0]).toBeCloseTo(0.9, 6); // input untouched
  });

  it('[node] offsets add to the pose, amplitude scales audio motion around its mean, presets move the head', () => {
    const base = seconds(0.96); // 24 frames alternating ±10°: the mean yaw is 0
    for (let f = 0; f < base.frames; f++) base.get(f, 'global_rot').set(eulerToAxisAngle(f % 2 ? 10 : -10, 0, 0));
    const calm = applyControls(base, { pose: { amplitude: 0.5, offset: { pitch: 7 } } });
    const [y, p] = axisAngleToEuler(calm.get(1, 'global_rot'));
    expect(y).toBeCloseTo(5, 4);
    expect(p).toBeCloseTo(7, 4);
    const nod = applyControls(seconds(2), { pose: { mode: 'fixed', presets: [{ name: 'nod' }] } });
    const pitches = Array.from({ length: nod.frames }, (_, f) => axisAngleToEuler(nod.get(f, 'global_rot'))[1]);
    expect(Math.max(...pitches)).toBeGreaterThan(8);
    expect(Math.min(...pitches)).toBeLessThan(-8);
  });

  it('[node] expression intensity scales and edits set or add coefficients over time', () => {
    const base = seconds(1);
    for (let f = 0; f < base.frames; f++) base.get(f, 'expression').fill(0.5);
    const out = applyControls(base, {
      expression: { intensity: 2, edits: [{ index: 3, mode: 'set', keyframes: [{ t: 0, value: 0 }, { t: 1, value: 1 }] }] },
    });
    expect(out.get(10, 'expression')[0]).toBeCloseTo(1, 6);
    expect(out.get(0, 'expression')[3]).toBeCloseTo(0, 6);
    expect(out.get(24, 'expression')[3]).toBeGreaterThan(0.9);
  });

  it('[node] gaze rotates both eyes', () => {
    const out = applyControls(seconds(1), { gaze: { keyframes: [{ t: 0, yaw: 15 }] } });
    const eyes = out.get(5, 'eyes');
    const left = sixdToMatrix(eyes.subarray(0, 6));
    const right = sixdToMatrix(eyes.subarray(6, 12));
    expect(Math.asin(left[2]) * (180 / Math.PI)).toBeCloseTo(15, 4);
    right.forEach((v, i) => expect(v).toBeCloseTo(left[i]!, 6));
  });

  it('[node] external coefficients replace or blend with the stream', () => {
    const base = seconds(1);
    const ext = seconds(1);
    ext.data.fill(0.2);
    const replaced = applyControls(base, { external: { sequence: ext }, blinks: { mode: 'audio' } });
    expect(replaced.get(4, 'expression')[7]).toBeCloseTo(0.2, 6);
    const blended = applyControls(base, { external: { sequence: ext, mode: 'blend', weight: 0.25 }, blinks: { mode: 'audio' } });
    expect(blended.get(4, 'expression')[7]).toBeCloseTo(0.05, 6);
  });

  it('[node] a coefficient sequence of partial frames or without a frame rate is an InputError', () => {
    expect(() => new CoefficientSequence(new Float32Array(121), 25)).toThrow(InputError);
    expect(() => new CoefficientSequence(new Float32Array(121), 25)).toThrow(/CoefficientSequence\.data/);
    expect(() => new CoefficientSequence(new Float32Array(120), 0)).toThrow(/CoefficientSequence\.fps/);
  });

  it('[node] a shorter external sequence plays back and forth with extend: loop', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((f) => pingPong(f, 4))).toEqual([0, 1, 2, 3, 2, 1, 0, 1]);
    expect(pingPong(5, 1)).toBe(0);
    const base = seconds(1); // 25 frames
    const ext = CoefficientSequence.zeros(10, 25);
    for (let f = 0; f < 10; f++) ext.data[f * 120 + 30] = f;
    expect(() => applyControls(base, { external: { sequence: ext } })).toThrow(/extend: 'loop'/);
    const looped = applyControls(base, { external: { sequence: ext, extend: 'loop' }, blinks: { mode: 'audio' } });
    expect([9, 10, 17, 18, 24].map((f) => looped.get(f, 'expression')[10])).toEqual([9, 8, 1, 0, 6]);
  });

  it('[node] bad controls are refused with an InputError naming the field', () => {
    const base = seconds(1);
    const bad: [unknown, RegExp][] = [
      [{ pose: { mode: 'keyframes', keyframes: [{ t: 0, yaw: NaN }] } }, /pose\.keyframes\[0\]\.yaw/],
      [{ pose: { mode: 'fixed', fixed: { yaw: 200 } } }, /pose\.fixed\.yaw/],
      [{ pose: { mode: 'keyframes', keyframes: [] } }, /pose\.keyframes/],
      [{ pose: { mode: 'spin' } }, /pose\.mode/],
      [{ blinks: { ratePerMinute: -1 } }, /blinks\.ratePerMinute/],
      [{ blinks: { durationMs: Infinity } }, /blinks\.durationMs/],
      [{ expression: { edits: [{ index: 100, keyframes: [{ t: 0, value: 1 }] }] } }, /expression\.edits\[0\]\.index/],
      [{ gaze: { keyframes: [{ t: -1, yaw: 0 }] } }, /gaze\.keyframes\[0\]\.t/],
      [{ external: { sequence: seconds(0.5) } }, /external\.sequence/],
    ];
    for (const [controls, field] of bad) {
      expect(() => applyControls(base, controls as never)).toThrow(InputError);
      expect(() => applyControls(base, controls as never)).toThrow(field);
    }
    const withNaN = seconds(1);
    withNaN.data[Slices.jaw.start + 120 * 3] = NaN;
    expect(() => applyControls(base, { external: { sequence: withNaN } })).toThrow(/frame 3/);
  });
});
