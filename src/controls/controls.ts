/**
 * User controls over the coefficient stream that reaches the UNet: head pose, blinks, expression, gaze, and
 * an external coefficient sequence. `applyControls` takes the audio-driven stream (from the audio-to-FLAME
 * head) and returns the stream to render; every control is optional and they combine in a fixed order:
 * external → pose → gaze → blinks → expression. All angles are in degrees, all times in seconds.
 */
import { InputError } from '../errors';
import { COEFFS, CoefficientSequence, Slices } from './layout';
import { monotoneCubic } from './interpolate';
import { axisAngleToEuler, eulerToAxisAngle, eulerToMatrix, matrixTo6d } from './rotation';

export interface PoseKey {
  t: number;
  yaw?: number;
  pitch?: number;
  roll?: number;
}

export type PosePreset = 'nod' | 'shake' | 'look-around';

export interface PoseControl {
  /** `audio` (default): the audio-driven head motion; `fixed`: one pose; `keyframes`: interpolate keys. */
  mode?: 'audio' | 'fixed' | 'keyframes';
  fixed?: { yaw?: number; pitch?: number; roll?: number };
  keyframes?: PoseKey[];
  /** Added to the pose of any mode: constant, or keyframed. */
  offset?: { yaw?: number; pitch?: number; roll?: number } | PoseKey[];
  /** Motion patterns added on top. */
  presets?: { name: PosePreset; start?: number; duration?: number; amplitude?: number }[];
  /** Scales the audio-driven motion around its mean (1 = as generated, 0 = still). */
  amplitude?: number;
}

export interface BlinkControl {
  /** `auto` (default): blinks at `ratePerMinute`; `off`: eyes open; `audio`: as the audio-to-FLAME head made them. */
  mode?: 'auto' | 'off' | 'audio';
  ratePerMinute?: number;
  /** Closure duration in milliseconds. */
  durationMs?: number;
  seed?: number;
}

export interface ExpressionEdit {
  /** Index into the 100 expression coefficients. */
  index: number;
  keyframes: { t: number; value: number }[];
  /** `add` (default) to the stream, or `set` it. */
  mode?: 'add' | 'set';
}

export interface ExpressionControl {
  /** Scales every expression coefficient (and the jaw) of the stream. */
  intensity?: number;
  edits?: ExpressionEdit[];
}

export interface GazeControl {
  /** Eye rotation keys (yaw/pitch in degrees); both eyes move together. */
  keyframes: { t: number; yaw?: number; pitch?: number }[];
}

export interface ExternalCoefficients {
  sequence: CoefficientSequence;
  /** `replace` (default) the audio-driven stream, or `blend` with weight `weight` (0 … 1). */
  mode?: 'replace' | 'blend';
  weight?: number;
  /**
   * A sequence shorter than the video: `error` (default) refuses it, `loop` plays it back and forth (a driving
   * video's coefficients from `Flap.estimate`, say, under longer speech).
   */
  extend?: 'error' | 'loop';
}

/** Frame of a sequence of `length` frames shown at video frame `f` when it is played back and forth. */
export function pingPong(f: number, length: number): number {
  if (length <= 1) return 0;
  const period = 2 * (length - 1);
  const k = f % period;
  return k < length ? k : period - k;
}

export interface Controls {
  pose?: PoseControl;
  blinks?: BlinkControl;
  expression?: ExpressionControl;
  gaze?: GazeControl;
  external?: ExternalCoefficients;
}

const LIMITS = { yaw: 90, pitch: 60, roll: 60 } as const;

function finite(field: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(field, `must be a finite number (got ${String(v)})`);
  if (v < min || v > max) throw new InputError(field, `must be within [${min}, ${max}] (got ${v})`);
  return v;
}

function checkAngles(field: string, a: { yaw?: number; pitch?: number; roll?: number }): void {
  for (const axis of ['yaw', 'pitch', 'roll'] as const) {
    if (a[axis] !== undefined) finite(`${field}.${axis}`, a[axis], -LIMITS[axis], LIMITS[axis]);
  }
}

function checkKeys(field: string, keys: readonly { t: number }[]): void {
  if (!Array.isArray(keys) || keys.length === 0) throw new InputError(field, 'needs at least one keyframe');
  keys.forEach((k, i) => finite(`${field}[${i}].t`, k.t, 0));
}

/** Validates controls before any GPU work; throws `InputError` naming the first bad field. */
export function validateControls(c: Controls, frames: number): void {
  const p = c.pose;
  if (p) {
    if (p.mode && !['audio', 'fixed', 'keyframes'].includes(p.mode)) throw new InputError('pose.mode', `unknown mode ${p.mode}`);
    if (p.mode === 'fixed') checkAngles('pose.fixed', p.fixed ?? {});
    if (p.mode === 'keyframes') {
      checkKeys('pose.keyframes', p.keyframes ?? []);
      p.keyframes!.forEach((k, i) => checkAngles(`pose.keyframes[${i}]`, k));
    }
    if (p.offset) {
      if (Array.isArray(p.offset)) {
        checkKeys('pose.offset', p.offset);
        p.offset.forEach((k, i) => checkAngles(`pose.offset[${i}]`, k));
      } else checkAngles('pose.offset', p.offset);
    }
    if (p.amplitude !== undefined) finite('pose.amplitude', p.amplitude, 0, 5);
    p.presets?.forEach((pr, i) => {
      if (!['nod', 'shake', 'look-around'].includes(pr.name)) throw new InputError(`pose.presets[${i}].name`, `unknown preset ${pr.name}`);
      if (pr.start !== undefined) finite(`pose.presets[${i}].start`, pr.start, 0);
      if (pr.duration !== undefined) finite(`pose.presets[${i}].duration`, pr.duration, 0);
      if (pr.amplitude !== undefined) finite(`pose.presets[${i}].amplitude`, pr.amplitude, 0, 3);
    });
  }
  const b = c.blinks;
  if (b) {
    if (b.mode && !['auto', 'off', 'audio'].includes(b.mode)) throw new InputError('blinks.mode', `unknown mode ${b.mode}`);
    if (b.ratePerMinute !== undefined) finite('blinks.ratePerMinute', b.ratePerMinute, 0, 120);
    if (b.durationMs !== undefined) finite('blinks.durationMs', b.durationMs, 40, 1000);
  }
  const e = c.expression;
  if (e) {
    if (e.intensity !== undefined) finite('expression.intensity', e.intensity, 0, 3);
    e.edits?.forEach((ed, i) => {
      if (!Number.isInteger(ed.index) || ed.index < 0 || ed.index >= Slices.expression.size) {
        throw new InputError(`expression.edits[${i}].index`, `must be an integer in [0, ${Slices.expression.size - 1}] (got ${ed.index})`);
      }
      checkKeys(`expression.edits[${i}].keyframes`, ed.keyframes);
      ed.keyframes.forEach((k, j) => finite(`expression.edits[${i}].keyframes[${j}].value`, k.value, -5, 5));
    });
  }
  if (c.gaze) {
    checkKeys('gaze.keyframes', c.gaze.keyframes);
    c.gaze.keyframes.forEach((k, i) => {
      if (k.yaw !== undefined) finite(`gaze.keyframes[${i}].yaw`, k.yaw, -45, 45);
      if (k.pitch !== undefined) finite(`gaze.keyframes[${i}].pitch`, k.pitch, -45, 45);
    });
  }
  if (c.external) {
    const s = c.external.sequence;
    if (!(s instanceof CoefficientSequence)) throw new InputError('external.sequence', 'must be a CoefficientSequence');
    const extend = c.external.extend ?? 'error';
    if (extend !== 'error' && extend !== 'loop') throw new InputError('external.extend', `must be "error" or "loop" (got ${JSON.stringify(extend)})`);
    if (s.frames < 1) throw new InputError('external.sequence', 'is empty');
    if (s.frames < frames && extend === 'error') throw new InputError('external.sequence', `has ${s.frames} frames, the video needs ${frames} (or set extend: 'loop')`);
    for (let i = 0; i < s.data.length; i++) {
      if (!Number.isFinite(s.data[i]!)) throw new InputError('external.sequence', `value ${i} (frame ${Math.floor(i / COEFFS)}) is not finite`);
    }
    if (c.external.weight !== undefined) finite('external.weight', c.external.weight, 0, 1);
  }
}

/** Seeded PRNG (mulberry32) so blink schedules are reproducible. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Blink start times over `seconds`: intervals of 60/rate s with ±25 % jitter, the first one a random part of an
 * interval in. Returned in seconds.
 */
export function blinkSchedule(seconds: number, ratePerMinute: number, seed = 0): number[] {
  if (ratePerMinute <= 0) return [];
  const rnd = random(seed);
  const interval = 60 / ratePerMinute;
  const times: number[] = [];
  let t = interval * (0.3 + 0.5 * rnd());
  while (t < seconds) {
    times.push(t);
    t += interval * (0.75 + 0.5 * rnd());
  }
  return times;
}

/** Eyelid closure (0 … 1) at time `t` for one blink starting at `start`: fast close, slower open. */
function blinkCurve(t: number, start: number, duration: number): number {
  const u = (t - start) / duration;
  if (u <= 0 || u >= 1) return 0;
  const closeEnd = 0.4;
  const phase = u < closeEnd ? u / closeEnd : 1 - (u - closeEnd) / (1 - closeEnd);
  return 0.5 - 0.5 * Math.cos(Math.PI * phase);
}

function presetOffset(name: PosePreset, t: number): [number, number, number] {
  switch (name) {
    case 'nod':
      return [0, 10 * Math.sin(2 * Math.PI * 0.8 * t), 0];
    case 'shake':
      return [15 * Math.sin(2 * Math.PI * 0.7 * t), 0, 0];
    case 'look-around':
      return [25 * Math.sin(2 * Math.PI * 0.15 * t), 8 * Math.sin(2 * Math.PI * 0.23 * t + 1), 0];
  }
}

function keyframeTrack<K extends { t: number }>(keys: readonly K[], field: (k: K) => number | undefined): (t: number) => number {
  return monotoneCubic(keys.filter((k) => field(k) !== undefined).map((k) => ({ t: k.t, value: field(k)! })));
}

/**
 * Applies `controls` to the audio-driven stream `base` and returns a new sequence (the input is untouched).
 * Validates first (`InputError`).
 */
export function applyControls(base: CoefficientSequence, controls: Controls = {}): CoefficientSequence {
  validateControls(controls, base.frames);
  const fps = base.fps;
  const frames = base.frames;
  const out = base.clone();

  // External coefficients replace or blend with the stream.
  if (controls.external) {
    const { sequence, mode = 'replace', weight = 1 } = controls.external;
    const w = mode === 'replace' ? 1 : weight;
    for (let f = 0; f < frames; f++) {
      const src = pingPong(f, sequence.frames) * COEFFS;
      for (let i = 0; i < COEFFS; i++) out.data[f * COEFFS + i] = (1 - w) * out.data[f * COEFFS + i]! + w * sequence.data[src + i]!;
    }
  }

  // Head pose, as Euler angles per frame.
  const pose = controls.pose ?? {};
  const euler = Array.from({ length: frames }, (_, f) => axisAngleToEuler(out.get(f, 'global_rot')));
  if ((pose.mode ?? 'audio') === 'audio' && pose.amplitude !== undefined) {
    for (let a = 0; a < 3; a++) {
      const mean = euler.reduce((s, e) => s + e[a]!, 0) / Math.max(1, frames);
      for (const e of euler) e[a] = mean + pose.amplitude * (e[a]! - mean);
    }
  }
  if (pose.mode === 'fixed') {
    for (const e of euler) [e[0], e[1], e[2]] = [pose.fixed?.yaw ?? 0, pose.fixed?.pitch ?? 0, pose.fixed?.roll ?? 0];
  } else if (pose.mode === 'keyframes') {
    const tracks = (['yaw', 'pitch', 'roll'] as const).map((a) => keyframeTrack(pose.keyframes!, (k) => k[a] ?? 0));
    euler.forEach((e, f) => tracks.forEach((track, a) => (e[a] = track(f / fps))));
  }
  if (pose.offset) {
    const off = pose.offset;
    euler.forEach((e, f) => {
      const t = f / fps;
      (['yaw', 'pitch', 'roll'] as const).forEach((a, i) => {
        e[i] += Array.isArray(off) ? keyframeTrack(off, (k) => k[a] ?? 0)(t) : off[a] ?? 0;
      });
    });
  }
  for (const pr of pose.presets ?? []) {
    const start = pr.start ?? 0;
    const end = pr.duration === undefined ? Infinity : start + pr.duration;
    euler.forEach((e, f) => {
      const t = f / fps;
      if (t < start || t > end) return;
      const o = presetOffset(pr.name, t - start);
      for (let a = 0; a < 3; a++) e[a] += (pr.amplitude ?? 1) * o[a]!;
    });
  }
  euler.forEach((e, f) => out.get(f, 'global_rot').set(eulerToAxisAngle(e[0]!, e[1]!, e[2]!)));

  // Gaze: both eyes rotate together.
  if (controls.gaze) {
    const yaw = keyframeTrack(controls.gaze.keyframes, (k) => k.yaw ?? 0);
    const pitch = keyframeTrack(controls.gaze.keyframes, (k) => k.pitch ?? 0);
    for (let f = 0; f < frames; f++) {
      const six = matrixTo6d(eulerToMatrix(yaw(f / fps), pitch(f / fps), 0));
      const eyes = out.get(f, 'eyes');
      eyes.set(six, 0);
      eyes.set(six, 6);
    }
  }

  // Blinks.
  const blinks = controls.blinks ?? {};
  const blinkMode = blinks.mode ?? 'auto';
  if (blinkMode !== 'audio') {
    const starts = blinkMode === 'off' ? [] : blinkSchedule(frames / fps, blinks.ratePerMinute ?? 15, blinks.seed ?? 0);
    const duration = (blinks.durationMs ?? 180) / 1000;
    for (let f = 0; f < frames; f++) {
      const t = f / fps;
      const closed = starts.reduce((m, s) => Math.max(m, blinkCurve(t, s, duration)), 0);
      out.get(f, 'eyelids').fill(closed);
    }
  }

  // Expression intensity and edits.
  const ex = controls.expression;
  if (ex?.intensity !== undefined) {
    for (let f = 0; f < frames; f++) {
      const e = out.get(f, 'expression');
      for (let i = 0; i < e.length; i++) e[i] *= ex.intensity;
      const jaw = out.get(f, 'jaw');
      for (let i = 0; i < 3; i++) jaw[i] *= ex.intensity;
    }
  }
  for (const edit of ex?.edits ?? []) {
    const track = monotoneCubic(edit.keyframes);
    for (let f = 0; f < frames; f++) {
      const e = out.get(f, 'expression');
      e[edit.index] = (edit.mode ?? 'add') === 'set' ? track(f / fps) : e[edit.index]! + track(f / fps);
    }
  }
  return out;
}
