/**
 * A deliberately small WGSL template language. A kernel file starts with the list of its parameters,
 *
 *     //! params: WG, VEC, ACT
 *
 * and may use `{{NAME}}` substitutions and line directives `#if NAME`, `#if !NAME`, `#if NAME == value`,
 * `#elif …`, `#else`, `#endif` (nestable). `{{PARAMS}}` is replaced by the uniform struct. Rendering checks
 * that the spec gives exactly the declared parameters, so anything that changes the text is in the spec (and
 * therefore in the pipeline cache key).
 */

export type SpecValue = string | number | boolean;
export type Spec = Readonly<Record<string, SpecValue>>;

function declaredParams(source: string): string[] {
  const m = /^\/\/!\s*params:(.*)$/m.exec(source);
  if (!m) return [];
  return m[1]!.split(',').map((s) => s.trim()).filter((s) => s && s !== '-');
}

function evalCondition(expr: string, spec: Spec, kernel: string): boolean {
  const cmp = /^(\w+)\s*(==|!=)\s*(\S+)$/.exec(expr);
  if (cmp) {
    const [, name, op, value] = cmp;
    if (!(name! in spec)) throw new Error(`${kernel}: #if uses undeclared parameter ${name}`);
    const equal = String(spec[name!]) === value;
    return op === '==' ? equal : !equal;
  }
  const neg = expr.startsWith('!');
  const name = neg ? expr.slice(1).trim() : expr;
  if (!(name in spec)) throw new Error(`${kernel}: #if uses undeclared parameter ${name}`);
  const v = spec[name];
  const truthy = v !== false && v !== 0 && v !== '' && v !== 'none';
  return neg ? !truthy : truthy;
}

/** Renders `source` for `spec`; `params` is the uniform struct's WGSL. */
export function renderTemplate(kernel: string, source: string, spec: Spec, params: string): string {
  const declared = declaredParams(source);
  for (const k of Object.keys(spec)) {
    if (!declared.includes(k)) throw new Error(`${kernel}: spec gives ${k}, which the WGSL does not declare`);
  }
  for (const k of declared) {
    if (!(k in spec)) throw new Error(`${kernel}: spec lacks parameter ${k}`);
  }

  // Each frame: is this branch active, has any branch of this #if been taken, was the parent active.
  const stack: { active: boolean; taken: boolean; parent: boolean }[] = [];
  const out: string[] = [];
  let active = true;
  for (const line of source.split('\n')) {
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

  return out.join('\n').replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (name === 'PARAMS') return params;
    if (!(name in spec)) throw new Error(`${kernel}: {{${name}}} is not a declared parameter`);
    return String(spec[name]);
  });
}

/** Deterministic JSON of a flat spec (sorted keys), used in cache keys. */
export function stableStringify(spec: Spec): string {
  return Object.keys(spec)
    .sort()
    .map((k) => `${k}=${String(spec[k])}`)
    .join(',');
}
