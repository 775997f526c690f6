import { ShapeError } from '../../../src/errors';
import { Sampler, cfgStep } from '../../../src/ops/sampler/cfg_step';
import {
  alphasCumprod,
  inferenceTimesteps,
  planSampler,
  referenceDdimStep,
  referenceDpmStep,
  referenceGuidance,
  SD_SCHEDULE,
} from '../../../src/ops/sampler/schedule';
import type { FlapDevice } from '../../../src/runtime/device';
import { assert, assertClose, assertEqual, assertThrows, randomArray, rng } from '../../harness/assert';
import type { Cases } from '../../harness/cases';

// x0 = (x - sigma eps) / alpha is up to ~15x the inputs at t = 981 (alpha ~ 0.068), so f32 carries errors
// of a few ulp of that; later steps shrink it again.
const TOL = { atol: 1e-5, rtol: 1e-5 };

/** Random odd-sized latents: [1, C, H, W] with primes. */
const SHAPES: number[][] = [
  [1, 4, 7, 9],
  [1, 3, 5, 11],
  [1, 1, 1, 1],
  [1, 4, 13, 17],
];

interface Chain {
  /** GPU sample. */
  x: ReturnType<FlapDevice['tensor']>;
  /** float64 CPU sample. */
  ref: Float64Array;
}

function newChain(device: FlapDevice, shape: number[], seed: number): Chain {
  const data = randomArray(shape.reduce((a, b) => a * b, 1), rng(seed));
  return { x: device.tensor(shape, 'f32', data), ref: Float64Array.from(data) };
}

export const cases: Cases = {
  'schedule: scaled-linear alphā and leading timesteps with offset 1 (SD DDIM config)': () => {
    const ac = alphasCumprod();
    // Values from torch.cumprod(1 - torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=float64)**2).
    assertClose([ac[0]!, ac[1]!, ac[500]!, ac[999]!], [0.99915, 0.9982960278384514, 0.2763326838229747, 0.004660098513077241], { atol: 0, rtol: 1e-12 });
    const t50 = inferenceTimesteps(50);
    assertEqual([t50[0], t50[1], t50[48], t50[49], t50.length], [981, 961, 21, 1, 50], '50 steps');
    assertEqual(inferenceTimesteps(7), [853, 711, 569, 427, 285, 143, 1], '7 steps');
    const trailing = { ...SD_SCHEDULE, spacing: 'trailing' as const };
    assertEqual(inferenceTimesteps(2, trailing), [999, 499], 'trailing, 2 steps');
    // 1000 / 7 is not an integer: every t_i is floor((7 - i) · 1000 / 7) - 1.
    assertEqual(inferenceTimesteps(7, trailing), [999, 856, 713, 570, 427, 284, 141], 'trailing, 7 steps');
    const few = planSampler('ddim', 3, trailing).steps;
    assertEqual(few.map((s) => [s.t, s.alphaBarNext]), [[999, ac[665]!], [665, ac[332]!], [332, 0.99915]], 'trailing steps go to the next timestep, the last to alphas_cumprod[0]');
    const dpm = planSampler('dpmpp_2m', 10);
    assertEqual(dpm.steps.map((s) => s.order), [1, 2, 2, 2, 2, 2, 2, 2, 2, 1], 'DPM orders, lower-order final below 15 steps');
    assertEqual(planSampler('dpmpp_2m', 20).steps.at(-1)!.order, 2, 'second order at the end of 20 steps');
    const last = planSampler('ddim', 50).steps.at(-1)!;
    assertEqual([last.t, last.alphaBarNext], [1, 0.99915], 'the last step goes to alphas_cumprod[0]');
  },

  'DDIM with guidance from a [cond, uncond] batch over 6 steps equals the closed form': async ({ device, log }) => {
    const plan = planSampler('ddim', 6);
    for (const [n, shape] of SHAPES.entries()) {
      const chain = newChain(device, shape, 100 + n);
      const count = chain.ref.length;
      const r = rng(200 + n);
      for (let i = 0; i < plan.steps.length; i++) {
        const c = plan.steps[i]!;
        const pair = randomArray(2 * count, r);
        const eps = device.tensor([2, ...shape.slice(1)], 'f32', pair);
        const next = cfgStep({ x: chain.x, eps, guidance: 'pair', scale: 7.5, coefficients: c });
        const g = referenceGuidance(pair.subarray(0, count), pair.subarray(count), 7.5);
        chain.ref = referenceDdimStep(chain.ref, g, c.alphaBar, c.alphaBarNext);
        assertClose(await next.read(), chain.ref, { ...TOL, label: `ddim [${shape}] step ${i} (t ${c.t})` });
        // Feed the GPU result back, as the pipeline does; the reference continues from its own float64 state.
        chain.x.release();
        eps.release();
        chain.x = next;
      }
      chain.x.release();
    }
    log(`DDIM checked over ${plan.steps.length} steps for ${SHAPES.length} shapes`);
  },

  'DPM-Solver++(2M) over all 10 and 20 steps, x0 history updated in place': async ({ device, log }) => {
    for (const steps of [10, 20]) {
      const sampler = new Sampler('dpmpp_2m', steps, 3.5);
      for (const [n, shape] of SHAPES.slice(0, 2).entries()) {
        const chain = newChain(device, shape, 300 + n);
        const count = chain.ref.length;
        const r = rng(400 + n);
        let prev: { x0: Float64Array; alphaBar: number } | undefined;
        for (let i = 0; i < sampler.plan.steps.length; i++) {
          const c = sampler.plan.steps[i]!;
          const [ec, eu] = [randomArray(count, r), randomArray(count, r)];
          const tc = device.tensor(shape, 'f32', ec);
          const tu = device.tensor(shape, 'f32', eu);
          const next = sampler.step(i, chain.x, tc, 'two', tu);
          const g = referenceGuidance(ec, eu, 3.5);
          const res = referenceDpmStep(chain.ref, g, c.alphaBar, c.alphaBarNext, c.order === 2 ? prev : undefined);
          chain.ref = res.x;
          prev = { x0: res.x0, alphaBar: c.alphaBar };
          // Relative to the sample's size: x0 reaches ~15 at the first step.
          assertClose(await next.read(), chain.ref, { atol: 3e-5, rtol: 3e-5, label: `dpm ${steps} [${shape}] step ${i} order ${c.order}` });
          chain.x.release();
          tc.release();
          tu.release();
          chain.x = next;
        }
        chain.x.release();
      }
      sampler.dispose();
    }
    log('DPM-Solver++(2M) checked over 10 and 20 steps');
  },

  'guidance scale 1 equals the conditional path; two tensors equal the pair': ({ device }) =>
    // The scope frees the many intermediate results.
    device.scopeAsync(async () => {
    const shape = [1, 4, 7, 9];
    const count = 252;
    const r = rng(500);
    const x = device.tensor(shape, 'f32', randomArray(count, r));
    const pairData = randomArray(2 * count, r);
    const pair = device.tensor([2, 4, 7, 9], 'f32', pairData);
    const cond = device.tensor(shape, 'f32', pairData.subarray(0, count));
    const uncond = device.tensor(shape, 'f32', pairData.subarray(count));
    for (const kind of ['ddim', 'dpmpp_2m'] as const) {
      const c = planSampler(kind, 25).steps[3]!;
      const history = () => (c.c1 !== 0 ? device.tensor([count], 'f32', randomArray(count, rng(7))) : undefined);
      const h1 = history();
      const h2 = history();
      const a = await cfgStep({ x, eps: pair, guidance: 'pair', scale: 1, coefficients: c, x0Prev: h1 }).read();
      const b = await cfgStep({ x, eps: cond, guidance: 'none', scale: 1, coefficients: c, x0Prev: h2 }).read();
      assertClose(a, b, { atol: 1e-6, rtol: 1e-6, label: `${kind} scale 1` });
      if (h1 && h2) assertClose(await h1.read(), await h2.read(), { atol: 1e-6, rtol: 1e-6, label: `${kind} history` });
      const p = await cfgStep({ x, eps: pair, guidance: 'pair', scale: 5, coefficients: c, x0Prev: history() }).read();
      const t = await cfgStep({ x, eps: cond, epsUncond: uncond, guidance: 'two', scale: 5, coefficients: c, x0Prev: history() }).read();
      assertClose(p, t, { atol: 0, rtol: 0, label: `${kind} pair vs two` });
      // Scale 0 is the unconditional path: a guard that the halves are read in the documented order.
      const z = await cfgStep({ x, eps: pair, guidance: 'pair', scale: 0, coefficients: c, x0Prev: history() }).read();
      const u = await cfgStep({ x, eps: uncond, guidance: 'none', scale: 1, coefficients: c, x0Prev: history() }).read();
      assertClose(z, u, { atol: 1e-6, rtol: 1e-6, label: `${kind} scale 0 = uncond` });
    }
  }),

  'bad inputs raise ShapeError': async ({ device }) => {
    const x = device.tensor([1, 3, 5], 'f32');
    const e = device.tensor([1, 3, 4], 'f32');
    const pair = device.tensor([2, 3, 5], 'f32');
    const c1 = planSampler('dpmpp_2m', 10).steps[1]!;
    const c0 = planSampler('ddim', 10).steps[0]!;
    await assertThrows(() => cfgStep({ x, eps: e, guidance: 'none', scale: 1, coefficients: c0 }), ShapeError, /does not match/);
    await assertThrows(() => cfgStep({ x, eps: x, guidance: 'pair', scale: 1, coefficients: c0 }), ShapeError, /cond, uncond/);
    await assertThrows(() => cfgStep({ x, eps: x, guidance: 'two', scale: 1, coefficients: c0 }), ShapeError, /unconditional/);
    await assertThrows(() => cfgStep({ x, eps: pair, guidance: 'pair', scale: 1, coefficients: c1 }), ShapeError, /previous x0/);
    assert(c1.c1 !== 0, 'step 1 of DPM++ 2M is second order');
    for (const t of [x, e, pair]) t.release();
  },
};
