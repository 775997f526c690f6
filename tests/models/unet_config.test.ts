/**
 * The config type and the UNet module trees, on the CPU (no device: modules only declare parameter shapes).
 * The TypeScript trees must give the PyTorch reference's state-dict names and shapes exactly (listed by
 * tests/models/make_unet_cases.py for the test and mini configs); sd15, too big to build in Python here, is
 * checked by SD-1.5's known UNet size (diffusers UNet2DConditionModel: 686 tensors, 859,520,964 parameters).
 */
import { describe, expect, it } from 'vitest';
import mini from '../../weights-tools/configs/mini.json';
import sd15 from '../../weights-tools/configs/sd15.json';
import testConfig from '../../weights-tools/configs/test.json';
import names from '../fixtures/unet_names.json';
import { InputError } from '../../src/errors';
import { parseConfig, type FlapConfig } from '../../src/models/config';
import type { Module } from '../../src/models/module';
import { ReferenceNet } from '../../src/models/reference_net';
import { UNet } from '../../src/models/unet';

const configs = { test: testConfig, mini, sd15 } as Record<string, unknown>;
const table = (m: Module) => m.namedParameters().map(([n, p]) => [n, [...p.shape]] as [string, number[]]);
const count = (m: Module) => m.namedParameters().reduce((s, [, p]) => s + p.shape.reduce((a, b) => a * b, 1), 0);

describe('UNet config', () => {
  it.each(Object.keys(configs))('parses %s', (name) => {
    const cfg = parseConfig(configs[name]);
    expect(cfg.name).toBe(name);
    expect(cfg.unet.block_out_channels.length).toBe(cfg.unet.down_block_types.length);
  });

  const bad: [string, (c: FlapConfig) => void, RegExp][] = [
    ['a missing section', (c) => delete (c as Partial<FlapConfig>).unet, /section unet is missing/],
    ['a mistyped field', (c) => ((c.unet as unknown as Record<string, unknown>).layers_per_block = '2'), /unet\.layers_per_block must be an integer/],
    ['a fractional width', (c) => (c.unet.block_out_channels = [32, 48.5]), /unet\.block_out_channels must be a non-empty list of positive integers/],
    ['an unknown block type', (c) => ((c.unet as unknown as Record<string, unknown>).down_block_types = ['CrossAttnDownBlock2D', 'AttnDownBlock2D']), /unet\.down_block_types has "AttnDownBlock2D"/],
    ['block types not matching the widths', (c) => (c.unet.up_block_types = ['UpBlock2D']), /one down and one up block type per entry/],
    ['zero heads', (c) => (c.unet.num_attention_heads = 0), /unet\.num_attention_heads must be at least 1/],
    ['a width not divisible by the heads', (c) => (c.unet.num_attention_heads = 5), /entry 32 is not divisible by unet\.num_attention_heads \(5\)/],
    ['a width not divisible by the groups', (c) => (c.unet.norm_num_groups = 12), /entry 32 is not divisible by unet\.norm_num_groups \(12\)/],
    ['a clip longer than the temporal table', (c) => (c.unet.motion_max_frames = 4), /4 \+ 1 motion frames exceeds unet\.motion_max_frames \(4\)/],
    ['a bad autoencoder type', (c) => ((c.autoencoder as { type: string }).type = 'vq'), /autoencoder\.type must be "kl" or "tiny"/],
    ['a video size not a multiple of 8', (c) => (c.video.width = 60), /video 60x64 is not a multiple of 8/],
    ['an unknown timestep spacing', (c) => ((c.scheduler as unknown as Record<string, unknown>).timestep_spacing = 'linspace'), /scheduler\.timestep_spacing must be "leading" or "trailing"/],
  ];
  it.each(bad)('refuses %s with an InputError naming it', (_, edit, message) => {
    const cfg = structuredClone(testConfig) as unknown as FlapConfig;
    edit(cfg);
    expect(() => parseConfig(cfg)).toThrow(InputError);
    expect(() => parseConfig(cfg)).toThrow(message);
  });
  it('refuses a non-object', () => expect(() => parseConfig(null)).toThrow(/expected a JSON object/));
});

describe('UNet module trees give the reference state-dict names', () => {
  const reference = names as unknown as Record<string, Record<'unet' | 'reference_net', [string, number[]][]>>;
  for (const name of ['test', 'mini']) {
    it(`${name}: temporal UNet and ReferenceNet, name for name and shape for shape`, () => {
      const cfg = parseConfig(configs[name]).unet;
      const sorted = (rows: [string, number[]][]) => [...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      expect(sorted(table(new UNet(cfg, true)))).toEqual(sorted(reference[name]!.unet));
      expect(sorted(table(new ReferenceNet(cfg)))).toEqual(sorted(reference[name]!.reference_net));
    });
  }

  it('sd15 without the expression path is exactly SD-1.5: 686 tensors, 859,520,964 parameters', () => {
    const cfg = { ...parseConfig(sd15).unet, expression_attention: false };
    const net = new ReferenceNet(cfg);
    expect(net.namedParameters().length).toBe(686);
    expect(count(net)).toBe(859_520_964);
    const shapes = new Map(table(net));
    expect(shapes.get('down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight')).toEqual([640, 768]);
    expect(shapes.get('up_blocks.3.attentions.2.proj_out.weight')).toEqual([320, 320, 1, 1]);
    expect(shapes.get('mid_block.resnets.1.time_emb_proj.weight')).toEqual([1280, 1280]);
    expect(shapes.get('up_blocks.0.resnets.2.conv_shortcut.weight')).toEqual([1280, 2560, 1, 1]);
  });

  it('sd15: the expression path adds one norm and attention per transformer; the denoiser adds motion modules', () => {
    const cfg = parseConfig(sd15).unet;
    const plain = new ReferenceNet({ ...cfg, expression_attention: false });
    const full = new UNet(cfg, true);
    const transformers = full.transformers();
    expect(transformers.map((t) => t.key)).toEqual([
      ...[0, 1, 2].flatMap((i) => [0, 1].map((j) => `down_blocks.${i}.attentions.${j}`)),
      'mid_block.attentions.0',
      ...[1, 2, 3].flatMap((i) => [0, 1, 2].map((j) => `up_blocks.${i}.attentions.${j}`)),
    ]);
    const extra = table(full).filter(([n]) => !new Map(table(plain)).has(n)).map(([n]) => n);
    expect(extra.every((n) => n.includes('.motion_modules.') || n.includes('.attn_expr.') || n.includes('.norm_expr.'))).toBe(true);
    // Per transformer: norm_expr (2) + attn_expr to_q/k/v (3) + to_out.0 (2) = 7 tensors; motion modules in
    // every layer of every block (2 per down block, 3 per up block, 1 in the mid block = 21).
    expect(extra.filter((n) => n.includes('_expr.')).length).toBe(16 * 7);
    const modules = new Set(extra.filter((n) => n.includes('.motion_modules.')).map((n) => n.split('.temporal_transformer.')[0]));
    expect(modules.size).toBe(4 * 2 + 4 * 3 + 1);
  });
});
