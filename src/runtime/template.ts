/**
 * A deliberately small WGSL template language. A kernel file starts with the list of its parameters,
 *
 *     //! params: WG, VEC, ACT
 *
 * and may use, in this order of processing:
 * - `#include NAME` (a line): the text of `shaders/common/NAME.wgsl`, which may itself use everything below;
 * - line directives `#if NAME`, `#if !NAME`, `#if NAME == value`, `#elif …`, `#else`, `#endif` (nestable);
 * - `#for $v < PARAM unroll` … `#endfor`: the body PARAM times, each copy in its own braces with `$v` replaced
 *   by `0u`, `1u`, …, so that private arrays are indexed by constants and can live in registers (SwiftShader
 *   does not unroll loops itself); `unroll COND` unrolls only when the parameter COND is true and writes a
 *   plain loop otherwise; without `unroll` it is always a loop. Nestable;
 * - `{{NAME}}` substitutions; `{{BINDINGS}}` is the `Params` uniform struct and every binding of the kernel.
 * Rendering checks that the spec gives exactly the declared parameters, so anything that changes the text is
 * in the spec (and therefore in the pipeline cache key).
 */
import activate from '../../shaders/common/activate.wgsl?raw';
import activation from '../../shaders/common/activation.wgsl?raw';
import convEpilogue from '../../shaders/common/conv_epilogue.wgsl?raw';
import elementwise from '../../shaders/common/elementwise.wgsl?raw';
import index from '../../shaders/common/index.wgsl?raw';

export type SpecValue = string | number | boolean;
export type Spec = Readonly<Record<string, SpecValue>>;

/** `shaders/common/`, by the name `#include` uses. */
const COMMON: Readonly<Record<string, string>> = { activate, activation, conv_epilogue: convEpilogue, elementwise, index };

function declaredParams(source: string): string[] {
  const m = /^\/\/!\s*params:(.*)$/m.exec(source);
  if (!m) return [];
  return m[1]!.split(',').map((s) => s.trim()).filter((s) => s && s !== '-');
}

function paramValue(name: string, spec: Spec, kernel: string, where: string): SpecValue {
  if (!(name in spec)) throw new Error(`${kernel}: ${where} uses undeclared parameter ${name}`);
  return spec[name]!;
}

const truthy = (v: SpecValue) => v !== false && v !== 0 && v !== '' && v !== 'none';

function evalCondition(expr: string, spec: Spec, kernel: string): boolean {
  const cmp = /^(\w+)\s*(==|!=)\s*(\S+)$/.exec(expr);
  if (cmp) {
    const [, name, op, value] = cmp;
    const equal = String(paramValue(name!, spec, kernel, '#if')) === value;
    return op === '==' ? equal : !equal;
  }
  const neg = expr.startsWith('!');
  const v = truthy(paramValue(neg ? expr.slice(1).trim() : expr, spec, kernel, '#if'));
  return neg ? !v : v;
}

/** Replaces each `#include NAME` line by that common file, recursively (each file at most once). */
function expandIncludes(source: string, kernel: string, seen = new Set<string>()): string {
  return source.replace(/^[ \t]*#include[ \t]+(\w+)[ \t]*$/gm, (_, name: string) => {
    const text = COMMON[name];
    if (text === undefined) throw new Error(`${kernel}: #include ${name}: no shaders/common/${name}.wgsl`);
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(text, kernel, seen);
  });
}

function applyConditionals(lines: readonly string[], spec: Spec, kernel: string): string[] {
  // Each frame: is this branch active, has any branch of this #if been taken, was the parent active.
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const out: string[] = [];
  let active = true;
  for (const line of lines) {
    const d = /^\s*#(if|elif|else|endif)\b\s*(.*)$/.exec(line);
    if (!d) {
      if (active) out.push(line);
      continue;
    }
    const [, word, rest] = d;
    if (word === 'if') {
      const cond: boolean = active && evalCondition(rest!.trim(), spec, kernel);
      stack.push({ active: cond, taken: cond, parent: active });
      active = cond;
    } else {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`${kernel}: #${word} without #if`);
      if (word === 'endif') {
        stack.pop();
        active = top.parent;
      } else {
        const cond: boolean = word === 'else' || evalCondition(rest!.trim(), spec, kernel);
        top.active = top.parent && !top.taken && cond;
        top.taken ||= top.active;
        active = top.active;
      }
    }
  }
  if (stack.length) throw new Error(`${kernel}: unterminated #if`);
  return out;
}

const FOR = /^([ \t]*)#for[ \t]+\$(\w+)[ \t]*<[ \t]*(\w+)(?:[ \t]+unroll(?:[ \t]+(\w+))?)?[ \t]*$/;

/** Expands `#for` blocks (outermost first; the copies' inner blocks are expanded in turn). */
function expandLoops(lines: readonly string[], spec: Spec, kernel: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = FOR.exec(lines[i]!);
    if (!head) {
      if (/^\s*#(for|endfor)\b/.test(lines[i]!)) throw new Error(`${kernel}: malformed or unmatched line ${lines[i]!.trim()}`);
      out.push(lines[i]!);
      continue;
    }
    const [, indent, variable, countParam, condition] = head;
    let depth = 1;
    let end = i + 1;
    for (; end < lines.length; end++) {
      if (FOR.test(lines[end]!)) depth++;
      else if (/^\s*#endfor\s*$/.test(lines[end]!) && --depth === 0) break;
    }
    if (end >= lines.length) throw new Error(`${kernel}: #for $${variable} without #endfor`);
    const count = Number(paramValue(countParam!, spec, kernel, '#for'));
    if (!Number.isInteger(count) || count < 0) throw new Error(`${kernel}: #for count ${countParam} = ${count} is not a whole number`);
    const body = lines.slice(i + 1, end);
    const unroll = lines[i]!.includes('unroll') && (condition === undefined || truthy(paramValue(condition, spec, kernel, '#for')));
    const mark = new RegExp(`\\$${variable}\\b`, 'g');
    if (unroll) {
      for (let c = 0; c < count; c++) {
        out.push(`${indent}{`, ...expandLoops(body.map((l) => l.replace(mark, `${c}u`)), spec, kernel), `${indent}}`);
      }
    } else {
      const v = `${variable}_`;
      out.push(`${indent}for (var ${v} = 0u; ${v} < ${count}u; ${v}++) {`, ...expandLoops(body.map((l) => l.replace(mark, v)), spec, kernel), `${indent}}`);
    }
    i = end;
  }
  return out;
}

/** Renders `source` for `spec`; `bindings` is the WGSL of the uniform struct and the kernel's bindings. */
export function renderTemplate(kernel: string, source: string, spec: Spec, bindings: string): string {
  const declared = declaredParams(source);
  for (const k of Object.keys(spec)) {
    if (!declared.includes(k)) throw new Error(`${kernel}: spec gives ${k}, which the WGSL does not declare`);
  }
  for (const k of declared) {
    if (!(k in spec)) throw new Error(`${kernel}: spec lacks parameter ${k}`);
  }
  const lines = expandLoops(applyConditionals(expandIncludes(source, kernel).split('\n'), spec, kernel), spec, kernel);
  return lines.join('\n').replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (name === 'BINDINGS') return bindings;
    return String(paramValue(name, spec, kernel, `{{${name}}}`));
  });
}

/** Deterministic text of a flat spec (sorted keys), used in cache keys. */
export function stableStringify(spec: Spec): string {
  return Object.keys(spec)
    .sort()
    .map((k) => `${k}=${String(spec[k])}`)
    .join(',');
}
