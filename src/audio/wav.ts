/**
 * WAV (RIFF/RIFX-free, little-endian) decoding: PCM 8/16/24/32-bit integer and 32/64-bit float, plain or
 * WAVE_FORMAT_EXTENSIBLE, any channel count. Everything else is refused with an `InputError`.
 */
import { InputError } from '../errors';

export interface DecodedAudio {
  sampleRate: number;
  /** One Float32Array per channel, values in [-1, 1]. */
  channels: Float32Array[];
}

const PCM = 1;
const FLOAT = 3;
const EXTENSIBLE = 0xfffe;

function fourcc(view: DataView, at: number): string {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WAVE';
}

export function decodeWav(bytes: Uint8Array): DecodedAudio {
  const field = 'audio';
  if (!isWav(bytes)) throw new InputError(field, 'not a RIFF/WAVE file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let format = 0;
  let channels = 0;
  let sampleRate = 0;
  let bits = 0;
  let blockAlign = 0;
  let data: { at: number; size: number } | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = fourcc(view, at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw new InputError(field, 'WAV fmt chunk is truncated');
      format = view.getUint16(body, true);
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      blockAlign = view.getUint16(body + 12, true);
      bits = view.getUint16(body + 14, true);
      if (format === EXTENSIBLE && size >= 40) format = view.getUint16(body + 24, true);
    } else if (id === 'data') {
      // Streams written before their length was known put 0 or 0xFFFFFFFF here: take the rest of the file.
      const available = bytes.length - body;
      data = { at: body, size: size === 0 || size > available ? available : size };
    }
    at = body + size + (size & 1);
  }
  if (!channels) throw new InputError(field, 'WAV has no fmt chunk');
  if (!data) throw new InputError(field, 'WAV has no data chunk');
  if (format !== PCM && format !== FLOAT) throw new InputError(field, `WAV sample format ${format} is not supported (PCM or IEEE float only)`);
  if (sampleRate < 1000 || sampleRate > 384000) throw new InputError(field, `WAV sample rate ${sampleRate} Hz is out of range`);
  const bytesPerSample = bits / 8;
  const valid = format === PCM ? [8, 16, 24, 32] : [32, 64];
  if (!valid.includes(bits) || blockAlign !== bytesPerSample * channels) {
    throw new InputError(field, `WAV with ${bits}-bit ${format === PCM ? 'PCM' : 'float'} samples and block align ${blockAlign} is not supported`);
  }
  const frames = Math.floor(data.size / blockAlign);
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const at = data.at + f * blockAlign + c * bytesPerSample;
      let v: number;
      if (format === FLOAT) v = bits === 32 ? view.getFloat32(at, true) : view.getFloat64(at, true);
      else if (bits === 8) v = (view.getUint8(at) - 128) / 128;
      else if (bits === 16) v = view.getInt16(at, true) / 32768;
      else if (bits === 24) v = ((view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getInt8(at + 2) << 16)) / 8388608);
      else v = view.getInt32(at, true) / 2147483648;
      out[c]![f] = v;
    }
  }
  return { sampleRate, channels: out };
}

/** Encodes mono or multi-channel float audio as 16-bit PCM WAV (for tests and exports). */
export function encodeWav(audio: DecodedAudio): Uint8Array {
  const channels = audio.channels.length;
  const frames = audio.channels[0]?.length ?? 0;
  const dataSize = frames * channels * 2;
  const bytes = new Uint8Array(44 + dataSize);
  const view = new DataView(bytes.buffer);
  const text = (at: number, s: string) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, 'RIFF');
  view.setUint32(4, 36 + dataSize, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, audio.sampleRate, true);
  view.setUint32(28, audio.sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, dataSize, true);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const v = Math.max(-1, Math.min(1, audio.channels[c]![f]!));
      view.setInt16(44 + (f * channels + c) * 2, Math.round(v * 32767), true);
    }
  }
  return bytes;
}
