/**
 * FLAP configurations: the JSON files of weights-tools/configs/ (one source of truth with the PyTorch
 * reference; snake_case keys as written there). `parseConfig` checks every field a model reads.
 */
import { InputError } from '../errors';

export interface VideoConfig { fps: number; frames_per_clip: number; motion_frames: number; height: number; width: number; sample_rate: number }
/** The wav2vec2 layout (real checkpoints) or the log-mel front end (`type: "mel"`, flap-mini). */
export type AudioFrontEndConfig = AudioEncoderConfig | MelEncoderConfig;
export interface MelEncoderConfig {
  type: 'mel'; n_fft: number; win_length: number; hop_length: number; n_mels: number; f_min: number; sample_rate: number;
  hidden_size: number; conv_kernel: number; num_conv_layers: number;
}
export interface AudioEncoderConfig {
  type?: 'wav2vec2';
  conv_dim: number[]; conv_kernel: number[]; conv_stride: number[]; conv_bias: boolean; feat_extract_norm: 'group' | 'layer';
  hidden_size: number; num_hidden_layers: number; num_attention_heads: number; intermediate_size: number;
  num_conv_pos_embeddings: number; num_conv_pos_embedding_groups: number; layer_norm_eps: number; normalize_input: boolean;
}
export interface Audio2FlameConfig {
  input_dim: number; hidden_size: number; num_layers: number; num_heads: number; intermediate_size: number;
  num_coeffs: number; condition_on_reference: boolean; layer_norm_eps: number;
}
export interface CoeffEncoderConfig { pose_dim: number; expr_dim: number; hidden_size: number; pose_tokens: number; expr_tokens: number; token_dim: number }
export interface UNetConfig {
  in_channels: number; out_channels: number; block_out_channels: number[];
  down_block_types: ('CrossAttnDownBlock2D' | 'DownBlock2D')[]; up_block_types: ('UpBlock2D' | 'CrossAttnUpBlock2D')[];
  layers_per_block: number; num_attention_heads: number; cross_attention_dim: number; norm_num_groups: number; norm_eps: number;
  flip_sin_to_cos: boolean; freq_shift: number; expression_attention: boolean; motion_modules: boolean;
  motion_num_attention_heads: number; motion_max_frames: number;
  /** The geometry guide (flap-mini; weights-tools/flap_ref/guide.py): absent in `test` and `sd15`. */
  guide?: GuideConfig;
}
/**
 * A head-asset render per frame whose colours are part labels (`palette[region id]`, linear RGB), drawn at
 * `size · supersample` and box-filtered to `size`; `channels` are the guide encoder's widths.
 */
export interface GuideConfig { size: number; supersample: number; channels: number[]; palette: [number, number, number][] }
export interface KLAutoencoderConfig {
  type: 'kl'; in_channels: number; out_channels: number; latent_channels: number; block_out_channels: number[];
  layers_per_block: number; norm_num_groups: number; scaling_factor: number;
}
export interface TinyAutoencoderConfig {
  type: 'tiny'; in_channels: number; out_channels: number; latent_channels: number; channels: number;
  blocks_per_level: number; scaling_factor: number;
}
export type AutoencoderConfig = KLAutoencoderConfig | TinyAutoencoderConfig;
export interface SchedulerConfig {
  num_train_timesteps: number; beta_start: number; beta_end: number; beta_schedule: 'scaled_linear'; prediction_type: 'epsilon';
  timestep_spacing: 'leading' | 'trailing'; steps_offset: number; default_sampler: 'ddim' | 'dpmpp_2m'; default_steps: number; default_guidance_scale: number;
}
export interface FlapConfig {
  name: string;
  description?: string;
  video: VideoConfig;
  audio_encoder: AudioFrontEndConfig;
  audio2flame: Audio2FlameConfig;
  coeff_encoder: CoeffEncoderConfig;
  unet: UNetConfig;
  autoencoder: AutoencoderConfig;
  preview_autoencoder?: AutoencoderConfig;
  /** FLAP's 3D parameter estimation (flap-mini): reads a frame's coefficients; weights under `estimator.`. */
  estimator?: EstimatorConfig;
  scheduler: SchedulerConfig;
}
export interface EstimatorConfig { width: number }

type Kind = 'int' | 'number' | 'bool' | 'ints' | 'strings';
const MEL: Record<string, Kind> = {
  n_fft: 'int', win_length: 'int', hop_length: 'int', n_mels: 'int', f_min: 'number', sample_rate: 'int', hidden_size: 'int',
  conv_kernel: 'int', num_conv_layers: 'int',
};
const SECTIONS: Record<string, Record<string, Kind>> = {
  video: { fps: 'int', frames_per_clip: 'int', motion_frames: 'int', height: 'int', width: 'int', sample_rate: 'int' },
  audio_encoder: {
    conv_dim: 'ints', conv_kernel: 'ints', conv_stride: 'ints', conv_bias: 'bool', hidden_size: 'int', num_hidden_layers: 'int',
    num_attention_heads: 'int', intermediate_size: 'int', num_conv_pos_embeddings: 'int', num_conv_pos_embedding_groups: 'int',
    layer_norm_eps: 'number', normalize_input: 'bool',
  },
  audio2flame: {
    input_dim: 'int', hidden_size: 'int', num_layers: 'int', num_heads: 'int', intermediate_size: 'int', num_coeffs: 'int',
    condition_on_reference: 'bool', layer_norm_eps: 'number',
  },
  coeff_encoder: { pose_dim: 'int', expr_dim: 'int', hidden_size: 'int', pose_tokens: 'int', expr_tokens: 'int', token_dim: 'int' },
  unet: {
    in_channels: 'int', out_channels: 'int', block_out_channels: 'ints', down_block_types: 'strings', up_block_types: 'strings',
    layers_per_block: 'int', num_attention_heads: 'int', cross_attention_dim: 'int', norm_num_groups: 'int', norm_eps: 'number',
    flip_sin_to_cos: 'bool', freq_shift: 'number', expression_attention: 'bool', motion_modules: 'bool',
    motion_num_attention_heads: 'int', motion_max_frames: 'int',
  },
  scheduler: {
    num_train_timesteps: 'int', beta_start: 'number', beta_end: 'number', steps_offset: 'int', default_steps: 'int',
    default_guidance_scale: 'number',
  },
};
const AUTOENCODER: Record<'kl' | 'tiny', Record<string, Kind>> = {
  kl: { in_channels: 'int', out_channels: 'int', latent_channels: 'int', block_out_channels: 'ints', layers_per_block: 'int', norm_num_groups: 'int', scaling_factor: 'number' },
  tiny: { in_channels: 'int', out_channels: 'int', latent_channels: 'int', channels: 'int', blocks_per_level: 'int', scaling_factor: 'number' },
};

function check(where: string, value: unknown, kind: Kind): void {
  const ok =
    kind === 'int' ? Number.isInteger(value) && (value as number) >= 0
    : kind === 'number' ? typeof value === 'number' && Number.isFinite(value)
    : kind === 'bool' ? typeof value === 'boolean'
    : kind === 'ints' ? Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v) && v > 0)
    : Array.isArray(value) && value.every((v) => typeof v === 'string');
  if (!ok) throw new InputError('config', `${where} must be ${kind === 'ints' ? 'a non-empty list of positive integers' : kind === 'strings' ? 'a list of strings' : `a${kind === 'int' ? 'n integer' : kind === 'bool' ? ' boolean' : ' finite number'}`} (got ${JSON.stringify(value)})`);
}

function checkSection(name: string, section: unknown, fields: Record<string, Kind>): void {
  if (typeof section !== 'object' || section === null) throw new InputError('config', `section ${name} is missing`);
  for (const [key, kind] of Object.entries(fields)) check(`${name}.${key}`, (section as Record<string, unknown>)[key], kind);
}

function checkGuide(guide: unknown, video: VideoConfig): void {
  checkSection('unet.guide', guide, { size: 'int', supersample: 'int', channels: 'ints' });
  const g = guide as GuideConfig;
  const downs = g.channels.length - 1;
  if (g.size < 1 || g.supersample < 1) throw new InputError('config', 'unet.guide.size and supersample must be at least 1');
  if (g.size !== (video.height / 8) * 2 ** downs || video.height !== video.width) {
    throw new InputError('config', `unet.guide: ${g.channels.length} channel widths halve a ${g.size}px guide ${downs} times, which must give the ${video.width / 8}x${video.height / 8} latent`);
  }
  const ok = Array.isArray(g.palette) && g.palette.length > 0 && g.palette.every((c) => Array.isArray(c) && c.length === 3 && c.every((v) => typeof v === 'number' && v >= 0 && v <= 1));
  if (!ok) throw new InputError('config', 'unet.guide.palette must be a list of [r, g, b] colours in [0, 1]');
}

/** Validates a parsed JSON config; throws `InputError` naming the first bad field. */
export function parseConfig(json: unknown): FlapConfig {
  if (typeof json !== 'object' || json === null) throw new InputError('config', 'expected a JSON object');
  const cfg = json as Record<string, unknown>;
  const mel = (cfg.audio_encoder as { type?: unknown } | undefined)?.type === 'mel';
  for (const [name, fields] of Object.entries(SECTIONS)) checkSection(name, cfg[name], name === 'audio_encoder' && mel ? MEL : fields);
  if (mel) {
    const m = cfg.audio_encoder as MelEncoderConfig;
    if (m.n_fft % 2 !== 0 || m.win_length > m.n_fft || m.win_length < 1 || m.hop_length < 1 || m.n_mels < 1 || m.num_conv_layers < 1 || m.conv_kernel % 2 !== 1) {
      throw new InputError('config', 'audio_encoder (mel): needs an even n_fft >= win_length >= 1, hop_length >= 1, n_mels >= 1, an odd conv_kernel and at least one conv layer');
    }
  }
  for (const name of ['autoencoder', 'preview_autoencoder']) {
    const ae = cfg[name] as { type?: unknown } | undefined;
    if (ae === undefined && name === 'preview_autoencoder') continue;
    if (!ae || (ae.type !== 'kl' && ae.type !== 'tiny')) throw new InputError('config', `${name}.type must be "kl" or "tiny"`);
    checkSection(name, ae, AUTOENCODER[ae.type]);
  }
  const unet = cfg.unet as UNetConfig;
  if (unet.down_block_types.length !== unet.block_out_channels.length || unet.up_block_types.length !== unet.block_out_channels.length) {
    throw new InputError('config', 'unet needs one down and one up block type per entry of block_out_channels');
  }
  const blockTypes = (field: string, list: string[], allowed: string[]) => {
    const bad = list.find((t) => !allowed.includes(t));
    if (bad !== undefined) throw new InputError('config', `${field} has ${JSON.stringify(bad)}; expected one of ${allowed.join(', ')}`);
  };
  blockTypes('unet.down_block_types', unet.down_block_types, ['CrossAttnDownBlock2D', 'DownBlock2D']);
  blockTypes('unet.up_block_types', unet.up_block_types, ['CrossAttnUpBlock2D', 'UpBlock2D']);
  // Zero heads or groups would pass the integer check but divide by zero in the modules.
  for (const key of ['num_attention_heads', 'norm_num_groups', 'motion_num_attention_heads', 'cross_attention_dim', 'layers_per_block'] as const) {
    if (unet[key] < 1) throw new InputError('config', `unet.${key} must be at least 1 (got ${unet[key]})`);
  }
  for (const width of unet.block_out_channels) {
    for (const [key, n] of [['num_attention_heads', unet.num_attention_heads], ['norm_num_groups', unet.norm_num_groups], ['motion_num_attention_heads', unet.motion_num_attention_heads]] as const) {
      if (width % n !== 0) throw new InputError('config', `unet.block_out_channels entry ${width} is not divisible by unet.${key} (${n})`);
    }
  }
  if (unet.guide !== undefined) checkGuide(unet.guide, cfg.video as VideoConfig);
  if (cfg.estimator !== undefined) {
    checkSection('estimator', cfg.estimator, { width: 'int' });
    const width = (cfg.estimator as EstimatorConfig).width;
    if (width < 8 || width % 8 !== 0) throw new InputError('config', `estimator.width must be a positive multiple of 8 (its GroupNorms have 8 groups; got ${width})`);
  }
  const spacing = (cfg.scheduler as { timestep_spacing?: unknown }).timestep_spacing;
  if (spacing !== undefined && spacing !== 'leading' && spacing !== 'trailing') {
    throw new InputError('config', `scheduler.timestep_spacing must be "leading" or "trailing" (got ${JSON.stringify(spacing)})`);
  }
  const video = cfg.video as VideoConfig;
  if (video.height % 8 !== 0 || video.width % 8 !== 0) throw new InputError('config', `video ${video.width}x${video.height} is not a multiple of 8`);
  if (unet.motion_modules && video.frames_per_clip + video.motion_frames > unet.motion_max_frames) {
    throw new InputError('config', `a clip of ${video.frames_per_clip} + ${video.motion_frames} motion frames exceeds unet.motion_max_frames (${unet.motion_max_frames})`);
  }
  return { name: String(cfg.name ?? 'unnamed'), ...cfg } as unknown as FlapConfig;
}
