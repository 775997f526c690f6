/**
 * Audio input for generation: WAV bytes (decoded here), any format the browser decodes (MP3, OGG, …),
 * an `AudioBuffer`, or raw samples at any rate and channel count → mono 16 kHz samples. Everything is
 * validated before GPU work: empty, too short, too long, silent, non-finite, unsupported rates.
 */
import { InputError } from '../errors';
import { downmix, resample } from '../audio/resample';
import { decodeWav, isWav } from '../audio/wav';

export interface RawAudio {
  /** One array per channel, or a single mono array. */
  samples: Float32Array | Float32Array[];
  sampleRate: number;
}

export type AudioInput = RawAudio | Uint8Array | ArrayBuffer | Blob | AudioBuffer;

export const MIN_SECONDS = 0.2;
export const MAX_SECONDS = 600;
const SILENCE = 1e-4;

async function bytesOf(input: Uint8Array | ArrayBuffer | Blob): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return new Uint8Array(await input.arrayBuffer());
}

async function decodeInBrowser(bytes: Uint8Array): Promise<RawAudio> {
  if (typeof OfflineAudioContext === 'undefined') throw new InputError('audio', 'only WAV can be decoded outside a browser (convert it, or pass raw samples)');
  const ctx = new OfflineAudioContext(1, 1, 44100);
  let buffer: AudioBuffer;
  try {
    buffer = await ctx.decodeAudioData(bytes.slice().buffer);
  } catch (e) {
    throw new InputError('audio', `the browser cannot decode these ${bytes.length} bytes (${(e as Error).message || 'unknown format'})`);
  }
  return fromAudioBuffer(buffer);
}

function fromAudioBuffer(b: AudioBuffer): RawAudio {
  return { samples: Array.from({ length: b.numberOfChannels }, (_, c) => b.getChannelData(c).slice()), sampleRate: b.sampleRate };
}

/** Decodes, down-mixes and resamples to `rate` (16 kHz for FLAP); throws `InputError` for unusable audio. */
export async function prepareAudio(input: AudioInput, rate = 16000): Promise<Float32Array> {
  let raw: RawAudio;
  if (typeof AudioBuffer !== 'undefined' && input instanceof AudioBuffer) raw = fromAudioBuffer(input);
  else if (input instanceof Uint8Array || input instanceof ArrayBuffer || (typeof Blob !== 'undefined' && input instanceof Blob)) {
    const bytes = await bytesOf(input as Uint8Array | ArrayBuffer | Blob);
    if (bytes.length === 0) throw new InputError('audio', 'is empty (0 bytes)');
    if (isWav(bytes)) {
      const wav = decodeWav(bytes);
      raw = { samples: wav.channels, sampleRate: wav.sampleRate };
    } else raw = await decodeInBrowser(bytes);
  } else raw = input as RawAudio;
  const channels = Array.isArray(raw.samples) ? raw.samples : [raw.samples];
  if (!Number.isFinite(raw.sampleRate) || raw.sampleRate < 8000 || raw.sampleRate > 192000) {
    throw new InputError('audio', `sample rate ${raw.sampleRate} Hz is outside 8–192 kHz`);
  }
  const seconds = (channels[0]?.length ?? 0) / raw.sampleRate;
  if (seconds === 0) throw new InputError('audio', 'has no samples');
  if (seconds < MIN_SECONDS) throw new InputError('audio', `is ${seconds.toFixed(3)} s long; at least ${MIN_SECONDS} s are needed`);
  if (seconds > MAX_SECONDS) throw new InputError('audio', `is ${(seconds / 60).toFixed(1)} min long; the limit is ${MAX_SECONDS / 60} min`);
  let peak = 0;
  for (const c of channels) {
    for (let i = 0; i < c.length; i++) {
      const v = c[i]!;
      if (!Number.isFinite(v)) throw new InputError('audio', `sample ${i} is ${v} (not finite)`);
      peak = Math.max(peak, Math.abs(v));
    }
  }
  if (peak < SILENCE) throw new InputError('audio', `is silent (peak ${peak.toExponential(1)})`);
  return resample(downmix(channels), raw.sampleRate, rate);
}
