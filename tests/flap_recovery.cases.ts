/**
 * The pipeline when the GPU fails under it, on the `test` config: a device lost mid-generation ends the call with
 * `DeviceLostError`, frees everything the call held, and `recover()` reloads the model on a new device that
 * generates the same frames; a generation that runs out of GPU memory is retried once after the pool's cached
 * buffers are freed, and gives the same frames.
 */
import testConfig from '../weights-tools/configs/test.json';
import { DeviceLostError, InputError } from '../src/errors';
import { Flap, type Frame } from '../src/flap';
import { assert, assertEqual, assertThrows } from './harness/assert';
import type { Cases } from './harness/cases';
import { fixtureBytes } from './harness/fixtures';
import { budgetDevice, refusesLargest } from './runtime/oom.cases';

const portrait = { data: new Uint8ClampedArray(64 * 64 * 4).map((_, i) => (i * 37) % 251), width: 64, height: 64 };
const speech = { samples: Float32Array.from({ length: 4160 }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900)), sampleRate: 16000 };
const request = { image: portrait, audio: speech, steps: 1, seed: 3 };
const MiB = 1024 * 1024;

function assertSameFrames(a: Frame[], b: Frame[], what: string): void {
  assertEqual(a.length, b.length, `${what}: frames`);
  for (let f = 0; f < a.length; f++) {
    const x = a[f]!.rgba;
    const y = b[f]!.rgba;
    let differ = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differ++;
    assert(differ === 0, `${what}: frame ${f} differs in ${differ} of ${x.length} bytes`);
  }
}

export const cases: Cases = {
  'device destroyed mid-generation: DeviceLostError, nothing leaked; recover() reloads on a new device and generates the same frames': async ({ where, log }) => {
    const weights = await fixtureBytes('test_weights.safetensors', where);
    const flap = await Flap.load({ config: testConfig, weights });
    let recovered: Flap | undefined;
    try {
      const before = (await flap.generate(request)).frames;
      const loaded = { ...flap.device.stats };
      let destroyedAt: string | undefined;
      const lost = await assertThrows(
        () =>
          flap.generate({
            ...request,
            onProgress: (p) => {
              if (p.stage === 'denoise' && !destroyedAt) {
                destroyedAt = `clip ${p.clip! + 1} of ${p.clips}`;
                flap.device.gpu.destroy();
              }
            },
          }),
        DeviceLostError,
        /lost/,
      );
      assert(destroyedAt !== undefined, 'the device was destroyed during denoising');
      assert(flap.isLost, 'flap.isLost');
      log(`destroyed at ${destroyedAt}: ${lost.message}`);
      assertEqual(flap.device.stats.bytesInUse, loaded.bytesInUse, 'bytes in use after the lost generation (the weights only)');
      await assertThrows(() => flap.generate(request), DeviceLostError, /lost/);

      const old = flap.device;
      recovered = await flap.recover();
      assert(recovered.device !== old && !recovered.isLost, 'a new, working device');
      assertEqual([old.stats.bytesInUse, old.stats.bytesAllocated], [0, 0], 'the lost device holds nothing after recover()');
      const after = (await recovered.generate(request)).frames;
      assertSameFrames(after, before, 'recovered model');
      log(`recovered: ${after.length} frames identical to those before the loss`);
    } finally {
      (recovered ?? flap).dispose();
    }
  },

  'recover() refuses a model loaded from a stream, which cannot be read twice': async ({ device, where }) => {
    const bytes = await fixtureBytes('test_weights.safetensors', where);
    const weights = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    });
    const flap = await Flap.load({ config: testConfig, weights }, { device });
    await assertThrows(() => flap.recover(), InputError, /stream/);
    flap.model.release();
  },

  'out of GPU memory in generate: retried once after the cached buffers are freed, the same frames': async ({ openDevice, where, log }) => {
    const real = await openDevice();
    if (!(await refusesLargest(real))) {
      log('this adapter allocates its maxBufferSize: the budget device cannot provoke a failure');
      return;
    }
    const { device, limit } = budgetDevice(real);
    try {
      const empty = device.stats.bytesInUse;
      const flap = await Flap.load({ config: testConfig, weights: await fixtureBytes('test_weights.safetensors', where) }, { device });
      const loaded = device.stats.bytesInUse;
      device.trim();
      const start = device.stats.bytesAllocated;
      const expected = (await flap.generate(request)).frames;
      const working = device.stats.bytesAllocated - start; // what one generation adds to the pool
      device.trim();
      const cached = device.tensor([(48 * MiB) / 4], 'f32');
      cached.release();
      await device.sync();
      // Room for the generation and its readbacks, not for the generation beside the 48 cached MiB.
      limit.bytes = start + working + 16 * MiB;
      let starts = 0;
      const video = await flap.generate({ ...request, onProgress: (p) => void (p.stage === 'inputs' && starts++) });
      assertEqual(starts, 2, 'generations started (the first ran out of memory)');
      assertSameFrames(video.frames, expected, 'retried generation');
      assertEqual(device.stats.bytesInUse, loaded, 'bytes in use after the retried generation (the weights only)');
      log(`a generation adding ${working} bytes beside 48 MiB of cached buffers: refused, then run after trimming`);
      flap.model.release();
      assertEqual(device.stats.bytesInUse, empty, 'bytes in use once the model is released');
    } finally {
      device.destroy();
    }
  },
};
