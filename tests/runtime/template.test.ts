import { describe, expect, it } from 'vitest';
import { defineKernel, kernelBindings, kernelKey, PipelineCache, read, write } from '../../src/runtime/kernel';
import { renderTemplate, stableStringify } from '../../src/runtime/template';
import { uniformSchema } from '../../src/runtime/uniforms';

const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean);

describe('[node] WGSL templates', () => {
  const src = '//! params: WG, ACT, VEC\n#if ACT == silu\nsilu\n#elif ACT == gelu\ngelu\n#else\nnone\n#endif\n#if !VEC\nscalar\n#endif\nwg={{WG}}\n{{BINDINGS}}';
  it('[node] select branches and substitute parameters', () => {
    expect(lines(renderTemplate('k', src, { WG: 64, ACT: 'gelu', VEC: false }, 'B'))).toEqual(['//! params: WG, ACT, VEC', 'gelu', 'scalar', 'wg=64', 'B']);
    expect(renderTemplate('k', src, { WG: 8, ACT: 'none', VEC: true }, 'B')).toContain('none');
  });

  it('[node] reject undeclared, missing and unbalanced parameters', () => {
    expect(() => renderTemplate('k', src, { WG: 1, ACT: 'none' }, '')).toThrow(/lacks parameter VEC/);
    expect(() => renderTemplate('k', src, { WG: 1, ACT: 'none', VEC: 1, X: 2 }, '')).toThrow(/does not declare/);
    expect(() => renderTemplate('k', '//! params: A\n#if A\nx', { A: true }, '')).toThrow(/unterminated/);
    expect(() => renderTemplate('k', '//! params: A\n#endif', { A: true }, '')).toThrow(/without #if/);
    expect(() => renderTemplate('k', '//! params: A\n{{B}}', { A: true }, '')).toThrow(/undeclared parameter B/);
  });

  it('[node] include shaders/common files once, resolving their own directives', () => {
    const text = renderTemplate('k', '//! params: ACT, WG\n#include activate\n#include activation\n#include index', { ACT: 'gelu', WG: 32 }, '');
    expect(text.match(/fn erf\(/g)).toHaveLength(1);
    expect(text).toContain('return gelu(v);');
    expect(text).not.toContain('return silu(v);');
    expect(text).toContain('gid.y * groups.x * 32u');
    expect(() => renderTemplate('k', '//! params: WG\n#include activate', { WG: 1 }, '')).toThrow(/undeclared parameter ACT/);
    expect(() => renderTemplate('k', '//! params: -\n#include nothing', {}, '')).toThrow(/no shaders\/common\/nothing.wgsl/);
  });

  it('[node] unroll #for blocks into braced copies, nested, or write loops', () => {
    const loop = '//! params: N, M, U\n#for $i < N unroll U\na[$i] = 1;\n#for $j < M unroll\nb[$i * 2u + $j] = $j;\n#endfor\n#endfor';
    expect(lines(renderTemplate('k', loop, { N: 2, M: 2, U: true }, ''))).toEqual([
      '//! params: N, M, U',
      '{', 'a[0u] = 1;', '{', 'b[0u * 2u + 0u] = 0u;', '}', '{', 'b[0u * 2u + 1u] = 1u;', '}', '}',
      '{', 'a[1u] = 1;', '{', 'b[1u * 2u + 0u] = 0u;', '}', '{', 'b[1u * 2u + 1u] = 1u;', '}', '}',
    ]);
    expect(lines(renderTemplate('k', loop, { N: 3, M: 1, U: false }, ''))).toEqual([
      '//! params: N, M, U',
      'for (var i_ = 0u; i_ < 3u; i_++) {', 'a[i_] = 1;', '{', 'b[i_ * 2u + 0u] = 0u;', '}', '}',
    ]);
    expect(() => renderTemplate('k', '//! params: N\n#for $i < N unroll\nx', { N: 2 }, '')).toThrow(/without #endfor/);
    expect(() => renderTemplate('k', '//! params: N\n#endfor', { N: 2 }, '')).toThrow(/unmatched/);
    expect(() => renderTemplate('k', '//! params: N\n#for $i < N unroll\n#endfor', { N: 1.5 }, '')).toThrow(/not a whole number/);
  });

  it('[node] key specialisations by every parameter, in a stable order', () => {
    const def = defineKernel({ name: 'k', source: src, uniforms: uniformSchema({ n: 'u32' }), bindings: () => [read('x'), write('out')] });
    expect(kernelKey(def, { WG: 64, ACT: 'silu', VEC: true })).toBe('k[ACT=silu,VEC=true,WG=64]');
    expect(stableStringify({ b: 1, a: 2 })).toBe(stableStringify({ a: 2, b: 1 }));
  });
});

describe('[node] kernel bindings', () => {
  const def = defineKernel({
    name: 'k',
    source: '//! params: VEC, EXTRA\n{{BINDINGS}}',
    uniforms: uniformSchema({ count: 'u32' }),
    bindings: (spec: { VEC: boolean; EXTRA: boolean }) => [read('x', spec.VEC ? 'vec4<f32>' : 'f32'), ...(spec.EXTRA ? [read('y')] : []), write('out')],
  });

  it('[node] come from the spec, uniform first, inputs then outputs', () => {
    expect(lines(PipelineCache.render(def, { VEC: true, EXTRA: true }))).toEqual([
      '//! params: VEC, EXTRA',
      'struct Params {', 'count: u32,', '}',
      '@group(0) @binding(0) var<uniform> params: Params;',
      '@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;',
      '@group(0) @binding(2) var<storage, read> y: array<f32>;',
      '@group(0) @binding(3) var<storage, read_write> out: array<f32>;',
    ]);
    expect(kernelBindings(def, { VEC: false, EXTRA: false })).toMatchObject({ inputs: 1, outputs: 1 });
    expect(kernelBindings(def, { VEC: false, EXTRA: true })).toMatchObject({ inputs: 2, outputs: 1 });
  });

  it('[node] refuse an input after an output, or no output', () => {
    const bad = defineKernel({ name: 'bad', source: '//! params: -', uniforms: uniformSchema({ n: 'u32' }), bindings: () => [write('out'), read('x')] });
    expect(() => kernelBindings(bad, {})).toThrow(/inputs, then at least one output/);
    const none = defineKernel({ name: 'none', source: '//! params: -', uniforms: uniformSchema({ n: 'u32' }), bindings: () => [read('x')] });
    expect(() => kernelBindings(none, {})).toThrow(/inputs, then at least one output/);
  });
});
