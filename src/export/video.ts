/**
 * Video files from generated frames, muxed in the browser with WebCodecs through mediabunny: WebM (VP9 or
 * VP8 + Opus) or MP4 (AVC + AAC), the original audio included. Frames can be added as they stream out.
 */
import {
  AudioSample,
  AudioSampleSource,
  BufferTarget,
  Mp4OutputFormat,
  Output,
  QUALITY_HIGH,
  VideoSample,
  VideoSampleSource,
  WebMOutputFormat,
  getFirstEncodableAudioCodec,
  getFirstEncodableVideoCodec,
} from 'mediabunny';
import { FlapError } from '../errors';

export type VideoFormat = 'webm' | 'mp4';

/** WebCodecs lacks an encoder this format needs (Node has no WebCodecs: render in a browser). */
export class EncoderUnavailableError extends FlapError {
  constructor(message: string) {
    super('ENCODER', message);
  }
}

export interface VideoWriterOptions {
  width: number;
  height: number;
  fps: number;
  format?: VideoFormat;
  /** Mono samples and their rate, muxed as the audio track. */
  audio?: { samples: Float32Array; sampleRate: number };
}

/** Streams RGBA frames into a WebM/MP4 file: `add` each frame in order, then `finish`. */
export class VideoWriter {
  private frames = 0;

  private constructor(
    private readonly output: Output,
    private readonly video: VideoSampleSource,
    private readonly options: VideoWriterOptions,
    readonly mimeType: string,
  ) {}

  static async create(options: VideoWriterOptions): Promise<VideoWriter> {
    if (typeof VideoEncoder === 'undefined') throw new EncoderUnavailableError('WebCodecs is not available here; encode video in a browser');
    const format = options.format ?? 'webm';
    const videoCodecs = format === 'webm' ? (['vp9', 'vp8'] as const) : (['avc'] as const);
    const audioCodecs = format === 'webm' ? (['opus'] as const) : (['aac'] as const);
    const videoCodec = await getFirstEncodableVideoCodec([...videoCodecs], { width: options.width, height: options.height });
    if (!videoCodec) throw new EncoderUnavailableError(`no ${videoCodecs.join('/')} encoder for ${format} in this browser`);
    const output = new Output({ format: format === 'webm' ? new WebMOutputFormat() : new Mp4OutputFormat(), target: new BufferTarget() });
    const video = new VideoSampleSource({ codec: videoCodec, bitrate: QUALITY_HIGH, keyFrameInterval: 2 });
    output.addVideoTrack(video, { frameRate: options.fps });
    let audio: AudioSampleSource | undefined;
    if (options.audio) {
      const audioCodec = await getFirstEncodableAudioCodec([...audioCodecs], { numberOfChannels: 1, sampleRate: 48000 });
      if (!audioCodec) throw new EncoderUnavailableError(`no ${audioCodecs.join('/')} encoder for ${format} in this browser`);
      audio = new AudioSampleSource({ codec: audioCodec, bitrate: QUALITY_HIGH });
      output.addAudioTrack(audio);
    }
    await output.start();
    if (audio && options.audio) {
      const { samples, sampleRate } = options.audio;
      // Opus wants 48 kHz; resampling here keeps the encoder configuration fixed.
      const { resample } = await import('../audio/resample');
      const at48 = sampleRate === 48000 ? samples : resample(samples, sampleRate, 48000);
      const sample = new AudioSample({ data: at48, format: 'f32', numberOfChannels: 1, sampleRate: 48000, timestamp: 0 });
      await audio.add(sample);
      sample.close();
      audio.close();
    }
    return new VideoWriter(output, video, options, format === 'webm' ? 'video/webm' : 'video/mp4');
  }

  /** Adds the next frame (RGBA bytes, width × height × 4). */
  async add(rgba: Uint8ClampedArray | Uint8Array): Promise<void> {
    const { width, height, fps } = this.options;
    if (rgba.length !== width * height * 4) throw new FlapError('ENCODER', `frame of ${rgba.length} bytes, expected ${width * height * 4}`);
    const sample = new VideoSample(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp: this.frames / fps, duration: 1 / fps });
    await this.video.add(sample);
    sample.close();
    this.frames++;
  }

  /** Finishes the file and returns its bytes. */
  async finish(): Promise<Uint8Array> {
    this.video.close();
    await this.output.finalize();
    const buffer = (this.output.target as BufferTarget).buffer;
    if (!buffer) throw new FlapError('ENCODER', 'the muxer produced no data');
    return new Uint8Array(buffer);
  }
}
