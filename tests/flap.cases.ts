/**
 * The user-facing pipeline on the `test` config (untrained weights; what is checked is the engine):
 * bad input is refused before any GPU work, the controls reach the UNet as specified, GPU memory stays
 * flat as the audio grows, and cancelling frees everything.
 */
import testConfig from '../weights-tools/configs/test.json';
import { axisAngleToEuler } from '../src/controls/rotation';
import { InputError } from '../src/errors';
import { Flap } from '../src/flap';
import { assert, assertThrows } from './harness/assert';
import type { Cases } from './harness/cases';
import { fixtureBytes } from './harness/fixtures';

const portrait = { data: new Uint8ClampedArray(64 * 64 * 4).fill(128), width: 64, height: 64 };
const speech = (seconds: number) => ({ samples: Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900)), sampleRate: 16000 });

export const cases: Cases = {
  'bad inputs are refused with InputError before any GPU work': async ({ device, where }) => {
    const flap = await Flap.load({ config: testConfig, weights: await fixtureBytes('test_weights.safetensors', where) }, { device });
    const dispatches = device.stats.dispatches;
    const base = { image: portrait, audio: speech(0.5) };
    await assertThrows(() => flap.generate({ ...base, controls: { pose: { mode: 'fixed', fixed: { yaw: NaN } } } }), InputError, /yaw/);
    await assertThrows(() => flap.generate({ ...base, audio: { samples: new Float32Array(16000), sampleRate: 16000 } }), InputError, /silent/);
    await assertThrows(() => flap.generate({ ...base, steps: 0 }), InputError, /steps/);
    await assertThrows(() => flap.generate({ ...base, referenceCoefficients: new Float32Array(7) }), InputError, /referenceCoefficients/);
    await assertThrows(() => flap.estimate(portrait), InputError, /no estimator/);
    for (const seed of [Number.NaN, 1.5, -1]) await assertThrows(() => flap.generate({ ...base, seed }), InputError, /seed/);
    await assertThrows(() => Flap.load({ config: { ...testConfig, unet: { ...testConfig.unet, guide: { size: 32, supersample: 2, channels: [8, 8, 8], palette: [[0, 0, 0]] } } }, weights: new Uint8Array(8) }, { device }), InputError, /headAsset/);
    assert(device.stats.dispatches === dispatches, `${device.stats.dispatches - dispatches} dispatches ran for refused input`);
    flap.model.release();
  },

  'controls reach the UNet; memory is flat from 2 to 10 clips; cancel frees everything': async ({ device, where }) => {
    const before = device.stats.bytesInUse;
    const flap = await Flap.load({ config: testConfig, weights: await fixtureBytes('test_weights.safetensors', where) }, { device });
    const loaded = device.stats.bytesInUse;
    const short = await flap.generate({ image: portrait, audio: speech(8 / 25 + 0.01), steps: 1 });
    assert(short.frames.length === 8, `${short.frames.length} frames for 0.33 s`);
    const controls = { pose: { mode: 'keyframes' as const, keyframes: [{ t: 0, yaw: 0 }, { t: 1, yaw: 20 }] }, blinks: { ratePerMinute: 60, durationMs: 200 } };
    const long = await flap.generate({ image: portrait, audio: speech(40 / 25 + 0.01), steps: 1, controls, onFrame: () => {} });
    assert(long.frames.length === 40, `${long.frames.length} frames for 1.61 s`);
    const yaw = axisAngleToEuler(long.coefficients.frame(25).subarray(0, 3))[0];
    assert(Math.abs(yaw - 20) < 0.01, `frame 25 yaw ${yaw}°, keyframed 20° at t = 1 s`);
    assert(long.coefficients.frame(0).subarray(18, 20).every((v) => v >= 0 && v <= 1), 'eyelids out of [0, 1]');
    assert(long.peakBytes === short.peakBytes, `peak GPU memory ${long.peakBytes} B for 10 clips vs ${short.peakBytes} B for 2`);
    assert(device.stats.bytesInUse === loaded, `${device.stats.bytesInUse - loaded} bytes left after generating`);

    const abort = new AbortController();
    await assertThrows(() => flap.generate({ image: portrait, audio: speech(1.6), steps: 1, signal: abort.signal, onFrame: () => abort.abort() }), Error, /abort/i);
    assert(device.stats.bytesInUse === loaded, `${device.stats.bytesInUse - loaded} bytes left after cancelling`);
    flap.model.release();
    assert(device.stats.bytesInUse === before, `${device.stats.bytesInUse - before} bytes left after release`);
  },
};
