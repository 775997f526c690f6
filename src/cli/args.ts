/**
 * Command-line arguments of `flap-webgpu render`, parsed and validated before anything is launched, so a bad
 * flag fails in milliseconds with a message naming it.
 */
import { parseArgs } from 'node:util';
import type { Controls, PoseKey, PosePreset } from '../controls/controls';
import { InputError } from '../errors';

export const USAGE = `flap-webgpu render [options]

Renders a talking-head video from a portrait and speech in headless Chromium's WebGPU.
Without --image/--audio it uses the bundled samples (demo/samples/).

  --image FILE          portrait (PNG, JPEG or WebP)
  --audio FILE          speech (WAV, MP3, OGG, ...)
  --out FILE            output video (default talk.webm; .mp4 for MP4)
  --model MODEL         a model folder (config.json, weights.safetensors, head_asset.safetensors when
                        the model draws a geometry guide), or the URL of one; in a checkout of the
                        repository also mini (models/flap-mini) or test (the untrained test config);
                        default auto: mini, else test, when in a checkout
  --yaw/--pitch/--roll DEG    head pose offsets added to the audio-driven motion
  --pose MODE           audio (default) | fixed (the offsets become the pose)
  --keyframes LIST      pose keyframes "t:yaw,pitch,roll;..." (seconds, degrees)
  --preset NAME         nod | shake | look-around
  --amplitude X         scale of the audio-driven head motion (1 = as generated)
  --blinks MODE         auto (default) | off | audio
  --blink-rate N        blinks per minute (default 15)
  --blink-ms N          closure duration in ms (default 150)
  --expression-scale X  intensity of the expression coefficients
  --coeffs FILE         per-frame coefficients (.json, .csv, .npy, .safetensors), frames x 120
  --coeffs-mode MODE    replace (default) | blend
  --coeffs-weight X     blend weight (0..1)
  --drive PATH          a video (any format ffmpeg reads) or a folder of frames (PNG/JPEG/WebP, in name
                        order) whose head pose, blinks and expression drive the portrait (reenactment; the
                        model's estimator reads them; shorter than the speech, they play back and forth)
  --sampler NAME        ddim | dpmpp_2m
  --steps N             sampler steps (default: the model's; at most 2 on a CPU adapter such as SwiftShader)
  --guidance X          classifier-free guidance scale
  --seed N              noise seed
  --png-dir DIR         also write every frame as PNG
  --coeffs-out FILE     also write the coefficients used, as JSON
  --help                this text`;

export interface CliOptions {
  image?: string;
  audio?: string;
  out: string;
  format: 'webm' | 'mp4';
  /** `auto`, `mini`, `test`, a folder or an http(s) URL of one. */
  model: string;
  controls: Controls;
  coeffsFile?: string;
  drive?: string;
  sampler?: 'ddim' | 'dpmpp_2m';
  steps?: number;
  guidanceScale?: number;
  seed?: number;
  pngDir?: string;
  coeffsOut?: string;
}

function num(name: string, v: string | undefined, min = -Infinity, max = Infinity, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
    throw new InputError(`--${name}`, `expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return x;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new InputError(`--${name}`, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** "t:yaw,pitch,roll;..." → pose keys. */
export function parseKeyframes(text: string): PoseKey[] {
  return text.split(';').filter((s) => s.trim()).map((entry, i) => {
    const m = /^\s*([^:]+):([^,]*),([^,]*),([^,]*)\s*$/.exec(entry);
    if (!m) throw new InputError('--keyframes', `entry ${i + 1} ${JSON.stringify(entry)} is not t:yaw,pitch,roll`);
    const [t, yaw, pitch, roll] = m.slice(1).map((v, j) => num(`keyframes[${i}].${['t', 'yaw', 'pitch', 'roll'][j]}`, v, j === 0 ? 0 : -90, j === 0 ? 3600 : 90)!);
    return { t: t!, yaw, pitch, roll };
  });
}

export function parseCliArgs(argv: readonly string[]): CliOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      image: { type: 'string' }, audio: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' },
      yaw: { type: 'string' }, pitch: { type: 'string' }, roll: { type: 'string' }, pose: { type: 'string' },
      keyframes: { type: 'string' }, preset: { type: 'string' }, amplitude: { type: 'string' },
      blinks: { type: 'string' }, 'blink-rate': { type: 'string' }, 'blink-ms': { type: 'string' },
      'expression-scale': { type: 'string' }, coeffs: { type: 'string' }, 'coeffs-mode': { type: 'string' },
      'coeffs-weight': { type: 'string' }, sampler: { type: 'string' }, steps: { type: 'string' },
      guidance: { type: 'string' }, seed: { type: 'string' }, 'png-dir': { type: 'string' },
      'coeffs-out': { type: 'string' }, drive: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const command = positionals[0] ?? 'render';
  if (command !== 'render' || positionals.length > 1) throw new InputError('command', `unknown command ${JSON.stringify(positionals.join(' '))}; try --help`);
  const out = values.out ?? 'talk.webm';
  const format = out.toLowerCase().endsWith('.mp4') ? 'mp4' : 'webm';
  if (!/\.(webm|mp4)$/i.test(out)) throw new InputError('--out', `${out} should end in .webm or .mp4`);
  const offset = { yaw: num('yaw', values.yaw, -90, 90), pitch: num('pitch', values.pitch, -60, 60), roll: num('roll', values.roll, -60, 60) };
  const poseMode = oneOf('pose', values.pose, ['audio', 'fixed'] as const);
  const controls: Controls = {};
  const hasOffset = Object.values(offset).some((v) => v !== undefined);
  if (values.keyframes) controls.pose = { mode: 'keyframes', keyframes: parseKeyframes(values.keyframes) };
  else if (poseMode === 'fixed') controls.pose = { mode: 'fixed', fixed: offset };
  else if (hasOffset) controls.pose = { offset };
  const preset = oneOf('preset', values.preset, ['nod', 'shake', 'look-around'] as const);
  if (preset) controls.pose = { ...(controls.pose ?? {}), presets: [{ name: preset as PosePreset }] };
  const amplitude = num('amplitude', values.amplitude, 0, 5);
  if (amplitude !== undefined) controls.pose = { ...(controls.pose ?? {}), amplitude };
  const blinkMode = oneOf('blinks', values.blinks, ['auto', 'off', 'audio'] as const);
  const rate = num('blink-rate', values['blink-rate'], 0, 120);
  const ms = num('blink-ms', values['blink-ms'], 40, 1000);
  if (blinkMode || rate !== undefined || ms !== undefined) controls.blinks = { mode: blinkMode ?? 'auto', ratePerMinute: rate, durationMs: ms };
  const scale = num('expression-scale', values['expression-scale'], 0, 5);
  if (scale !== undefined) controls.expression = { intensity: scale };
  const coeffsMode = oneOf('coeffs-mode', values['coeffs-mode'], ['replace', 'blend'] as const);
  const coeffsWeight = num('coeffs-weight', values['coeffs-weight'], 0, 1);
  if ((coeffsMode || coeffsWeight !== undefined) && !values.coeffs) throw new InputError('--coeffs-mode', 'needs --coeffs FILE');
  if (values.coeffs) controls.external = { mode: coeffsMode ?? 'replace', weight: coeffsWeight } as Controls['external'];
  if (values.drive && values.coeffs) throw new InputError('--drive', 'give --drive or --coeffs, not both (each replaces the coefficients)');
  return {
    image: values.image,
    audio: values.audio,
    out,
    format,
    model: values.model?.trim() || 'auto',
    controls,
    coeffsFile: values.coeffs,
    drive: values.drive,
    sampler: oneOf('sampler', values.sampler, ['ddim', 'dpmpp_2m'] as const),
    steps: num('steps', values.steps, 1, 200, true),
    guidanceScale: num('guidance', values.guidance, 0, 30),
    seed: num('seed', values.seed, 0, 2 ** 31 - 1, true),
    pngDir: values['png-dir'],
    coeffsOut: values['coeffs-out'],
  };
}
