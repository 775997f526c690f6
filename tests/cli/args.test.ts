/** `flap-webgpu render` argument parsing: every control flag lands in the controls; bad values are refused. */
import { describe, expect, it } from 'vitest';
import { parseCliArgs, parseKeyframes } from '../../src/cli/args';
import { progressWriter } from '../../src/cli/main';
import * as library from '../../src/index';
import { InputError } from '../../src/errors';

describe('flap-webgpu render arguments', () => {
  it('maps flags to controls and sampling options', () => {
    const o = parseCliArgs(['render', '--yaw', '10', '--pitch=-5', '--blink-rate', '30', '--blink-ms', '200', '--expression-scale', '1.5',
      '--preset', 'nod', '--amplitude', '0.5', '--sampler', 'ddim', '--steps', '3', '--guidance', '2.5', '--seed', '7', '--out', 'x.mp4']);
    if (o === 'help') throw new Error('unexpected help');
    expect(o.format).toBe('mp4');
    expect(o.controls.pose).toEqual({ offset: { yaw: 10, pitch: -5, roll: undefined }, presets: [{ name: 'nod' }], amplitude: 0.5 });
    expect(o.controls.blinks).toEqual({ mode: 'auto', ratePerMinute: 30, durationMs: 200 });
    expect(o.controls.expression).toEqual({ intensity: 1.5 });
    expect([o.sampler, o.steps, o.guidanceScale, o.seed]).toEqual(['ddim', 3, 2.5, 7]);
    expect(parseCliArgs(['--help'])).toBe('help');
    const fixed = parseCliArgs(['--pose', 'fixed', '--yaw', '20']);
    expect(fixed !== 'help' && fixed.controls.pose).toEqual({ mode: 'fixed', fixed: { yaw: 20, pitch: undefined, roll: undefined } });
  });

  it('writes progress as one line per stage or clip when stderr is not a terminal', () => {
    const log: string[] = [];
    const progress = progressWriter(false, (t) => log.push(t));
    for (let i = 0; i < 50; i++) progress(i / 100, i < 20 ? 'denoise clip 1/2' : 'denoise clip 2/2', `${i} s`);
    expect(log).toEqual(['  0% denoise clip 1/2 (0 s)\n', ' 20% denoise clip 2/2 (20 s)\n']);
    const tty: string[] = [];
    progressWriter(true, (t) => tty.push(t))(0.5, 'decode', '3 s');
    expect(tty[0]!.startsWith('\r[###############...............]  50% decode')).toBe(true);
  });

  it('the library exports every op, softmax and the timestep embedding among them', () => {
    for (const name of ['softmax', 'sinusoidalEmbedding', 'conv2d', 'attention', 'groupNorm', 'unary']) {
      expect(typeof (library as Record<string, unknown>)[name]).toBe('function');
    }
  });

  it('parses keyframes', () => {
    expect(parseKeyframes('0:0,0,0; 1:20,5,-3')).toEqual([{ t: 0, yaw: 0, pitch: 0, roll: 0 }, { t: 1, yaw: 20, pitch: 5, roll: -3 }]);
  });

  it.each([
    [['--steps', '0'], /--steps/],
    [['--yaw', 'NaN'], /--yaw/],
    [['--yaw', '200'], /--yaw/],
    [['--keyframes', '1:2'], /--keyframes/],
    [['--sampler', 'euler'], /--sampler/],
    [['--out', 'video.gif'], /--out/],
    [['--coeffs-mode', 'blend'], /needs --coeffs/],
    [['--drive', 'a.webm', '--coeffs', 'c.json'], /not both/],
    [['paint'], /unknown command/],
  ])('refuses %j', (args, message) => {
    expect(() => parseCliArgs(args)).toThrow(InputError);
    expect(() => parseCliArgs(args)).toThrow(message);
  });
});
