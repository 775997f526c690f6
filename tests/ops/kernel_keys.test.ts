/**
 * Key coverage of every kernel: the spec decides the WGSL (bindings included), so changing any one spec field
 * must change both the pipeline cache key and the rendered text, one key must always render one text, and
 * every rendered variation must compile.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionKernel, type AttentionSpec } from '../../src/ops/nn/attention';
import { conv2dKernel, type Conv2dSpec } from '../../src/ops/nn/conv2d';
import { conv2dTiledKernel } from '../../src/ops/nn/conv2d_tiled';
import { normGroupKernel, normKernel } from '../../src/ops/nn/norm';
import { softmaxKernel } from '../../src/ops/nn/softmax';
import { timestepEmbeddingKernel } from '../../src/ops/nn/timestep_embedding';
import { binaryKernel } from '../../src/ops/math/binary';
import { blockFragments, matmulKernel, type MatmulSpec } from '../../src/ops/math/matmul';
import { unaryKernel } from '../../src/ops/math/unary';
import { guidePackKernel } from '../../src/ops/render/guide_pack';
import { headNormalsKernel } from '../../src/ops/render/head_normals';
import { headPoseKernel } from '../../src/ops/render/head_pose';
import { cfgStepKernel } from '../../src/ops/sampler/cfg_step';
import { castKernel } from '../../src/ops/tensor/cast';
import { permuteKernel } from '../../src/ops/tensor/permute';
import { slabKernel } from '../../src/ops/tensor/slab';
import { upsampleKernel } from '../../src/ops/tensor/upsample';
import { KERNELS } from '../../src/ops/kernels';
import { createDevice, type FlapDevice } from '../../src/runtime/device';
import { kernelKey, PipelineCache, type KernelDef } from '../../src/runtime/kernel';
import type { Spec, SpecValue } from '../../src/runtime/template';

interface SpecSpace {
  def: KernelDef<any>;
  /** Valid specs to vary from: a field that matters in one variant only (BLOCK of `blocked`) needs that base. */
  bases: Spec[];
  /** Every field's values. */
  values: Record<string, SpecValue[]>;
}

const ACTS = ['none', 'silu', 'gelu', 'gelu_tanh', 'relu'];
const BOOL = [false, true];

const matmulBase: MatmulSpec = {
  VARIANT: 'blocked', BLOCK: '4x8', ...blockFragments('4x8'), TRANS_A: false, TRANS_B: true, VEC_A: true, VEC_B: true, VEC_OUT: true,
  B_F16: false, BIAS: true, RES: false, ACT: 'none', WG: 1, SUBGROUPS: false,
};
const conv2dBase: Conv2dSpec = { CO: 8, PX: 4, VEC: true, W16: false, ACT: 'silu', BIAS: true, RESIDUAL: false, WG: 64 };
const attentionBase: AttentionSpec = { VARIANT: 'rows', D: 24, DV: 6, BK: 4, WG: 64, CONCAT: true, VEC: true, RQ: 4, UNROLL_DV: true };

const spaces: Record<string, SpecSpace> = {
  'math/binary': { def: binaryKernel, bases: [{ OP: 'add', RANK: 2, WG: 256 }], values: { OP: ['add', 'sub', 'mul', 'div', 'max', 'min'], RANK: [0, 1, 2, 8], WG: [64, 256] } },
  'math/unary': { def: unaryKernel, bases: [{ OP: 'silu', WG: 256 }], values: { OP: ['silu', 'gelu', 'gelu_tanh', 'relu', 'log', 'geglu'], WG: [64, 256] } },
  'math/matmul': {
    def: matmulKernel,
    bases: [
      matmulBase,
      { ...matmulBase, BLOCK: '1x4', ...blockFragments('1x4') },
      { ...matmulBase, BLOCK: '16x16', ...blockFragments('16x16') },
      { ...matmulBase, VARIANT: 'splitk', BLOCK: '4x4', ...blockFragments('4x4'), WG: 16 },
      { ...matmulBase, VARIANT: 'tiled', BLOCK: '4x4', ...blockFragments('4x4') },
    ],
    values: {
      VARIANT: ['blocked', 'tiled', 'splitk'], BLOCK: ['1x4', '4x4', '4x8', '8x8', '16x8', '16x16'], FR: [1, 2, 4], FC: [1, 2, 4], TRANS_A: BOOL, TRANS_B: BOOL, VEC_A: BOOL, VEC_B: BOOL,
      VEC_OUT: BOOL, B_F16: BOOL, BIAS: BOOL, RES: BOOL, ACT: ACTS, WG: [1, 4, 16, 64], SUBGROUPS: BOOL,
    },
  },
  'nn/conv2d': { def: conv2dKernel, bases: [conv2dBase], values: { CO: [1, 2, 4, 8, 16], PX: [1, 4, 8], VEC: BOOL, W16: BOOL, ACT: ACTS, BIAS: BOOL, RESIDUAL: BOOL, WG: [32, 64] } },
  'nn/conv2d_tiled': { def: conv2dTiledKernel, bases: [{ W16: false, ACT: 'silu', BIAS: true, RESIDUAL: false }], values: { W16: BOOL, ACT: ACTS, BIAS: BOOL, RESIDUAL: BOOL } },
  'nn/attention': {
    def: attentionKernel,
    bases: [attentionBase, { ...attentionBase, VARIANT: 'tiled', BK: 16, RQ: 1 }, { ...attentionBase, VARIANT: 'subgroup', WG: 4, RQ: 1 }],
    values: { VARIANT: ['rows', 'tiled', 'subgroup'], D: [24, 22], DV: [6, 5], BK: [4, 16, 32], WG: [4, 64], CONCAT: BOOL, VEC: BOOL, RQ: [1, 2, 4], UNROLL_DV: BOOL },
  },
  'nn/norm': { def: normKernel, bases: [{ SILU: true, WG: 64 }], values: { SILU: BOOL, WG: [32, 64] } },
  'nn/norm_group': { def: normGroupKernel, bases: [{ VEC: 4, SILU: true, WG: 8 }], values: { VEC: [1, 4], SILU: BOOL, WG: [8, 64] } },
  'nn/softmax': { def: softmaxKernel, bases: [{ WG: 64 }], values: { WG: [32, 64] } },
  'nn/timestep_embedding': { def: timestepEmbeddingKernel, bases: [{ FLIP: true, WG: 64 }], values: { FLIP: BOOL, WG: [32, 64] } },
  'render/guide_pack': { def: guidePackKernel, bases: [{ WG: 64 }], values: { WG: [32, 64] } },
  'render/head_normals': { def: headNormalsKernel, bases: [{ WG: 64 }], values: { WG: [32, 64] } },
  'render/head_pose': { def: headPoseKernel, bases: [{ WG: 64 }], values: { WG: [32, 64] } },
  'sampler/cfg_step': { def: cfgStepKernel, bases: [{ GUIDANCE: 'pair', HISTORY: true, WG: 256 }], values: { GUIDANCE: ['pair', 'two', 'none'], HISTORY: BOOL, WG: [64, 256] } },
  'tensor/cast': { def: castKernel, bases: [{ SRC: 'f16', DST: 'f32', WG: 256 }], values: { SRC: ['f32', 'f16'], DST: ['f32', 'f16'], WG: [64, 256] } },
  'tensor/permute': { def: permuteKernel, bases: [{ WG: 256 }], values: { WG: [64, 256] } },
  'tensor/slab': { def: slabKernel, bases: [{ WG: 256 }], values: { WG: [64, 256] } },
  'tensor/upsample': { def: upsampleKernel, bases: [{ WG: 256 }], values: { WG: [64, 256] } },
};

/** Each base, and each base with one field changed to each of its other values. */
function variations(space: SpecSpace): { spec: Spec; base: Spec; field?: string }[] {
  const out: { spec: Spec; base: Spec; field?: string }[] = [];
  for (const base of space.bases) {
    out.push({ spec: base, base });
    for (const [field, values] of Object.entries(space.values)) {
      for (const v of values) if (v !== base[field]) out.push({ spec: { ...base, [field]: v }, base, field });
    }
  }
  return out;
}

/** The same spec with its fields inserted in reverse order (a key must not depend on the order). */
const reversed = (spec: Spec): Spec => Object.fromEntries(Object.entries(spec).reverse());

const shaders = path.resolve(fileURLToPath(new URL('../../shaders', import.meta.url)));

describe('[node] kernel cache keys', () => {
  it('[node] the kernel registry (src/ops/kernels.ts) holds exactly the kernels with a spec space', () => {
    expect(Object.keys(KERNELS).sort()).toEqual(Object.values(spaces).map((s) => s.def.name).sort());
  });

  it('[node] every compute shader has a spec space here', () => {
    const files = readdirSync(shaders, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.wgsl') && !f.startsWith('common') && !f.endsWith('head_draw.wgsl')) // head_draw: a render pipeline
      .map((f) => f.replace(/\\/g, '/').replace(/\.wgsl$/, ''))
      .sort();
    expect(files).toEqual(Object.keys(spaces).sort());
  });

  for (const [file, space] of Object.entries(spaces)) {
    it(`[node] ${file}: each spec field changes the key and the WGSL; one key, one text`, () => {
      const texts = new Map<string, string>();
      const changes = new Map<string, boolean>(); // field=value → a change to or from it changed the text
      for (const { spec, base, field } of variations(space)) {
        expect(Object.keys(spec).sort()).toEqual(Object.keys(space.values).sort());
        const key = kernelKey(space.def, spec);
        const text = PipelineCache.render(space.def, spec);
        expect(kernelKey(space.def, reversed(spec))).toBe(key);
        expect(PipelineCache.render(space.def, reversed(spec))).toBe(text);
        if (texts.has(key)) expect(texts.get(key)).toBe(text);
        texts.set(key, text);
        if (field) {
          expect(key).not.toBe(kernelKey(space.def, base));
          // A change shows that both values matter: the one changed to and the base's own.
          const changed = text !== PipelineCache.render(space.def, base);
          for (const id of [`${field}=${String(spec[field])}`, `${field}=${String(base[field])}`]) changes.set(id, (changes.get(id) ?? false) || changed);
        }
      }
      const unchanged = [...changes].filter(([, changed]) => !changed).map(([id]) => id);
      expect(unchanged, `fields whose change leaves the WGSL as it was`).toEqual([]);
    });
  }
});

describe('[node] kernel variations compile', () => {
  let device: FlapDevice;
  beforeAll(async () => {
    device = await createDevice();
  });
  afterAll(() => device?.destroy());

  for (const [file, space] of Object.entries(spaces)) {
    it(`[node] ${file}: every variation is valid WGSL`, async () => {
      const errors: string[] = [];
      for (const { spec } of variations(space)) {
        if (spec.SUBGROUPS === true || spec.VARIANT === 'subgroup') {
          if (!device.info.features.subgroups) continue;
        }
        const module = device.gpu.createShaderModule({ code: PipelineCache.render(space.def, spec) });
        const info = await module.getCompilationInfo();
        for (const m of info.messages) if (m.type === 'error') errors.push(`${kernelKey(space.def, spec)}: ${m.lineNum}:${m.linePos} ${m.message}`);
      }
      expect(errors).toEqual([]);
    });
  }
});
