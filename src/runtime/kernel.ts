import { flags } from '../flags';
import { ShaderCompileError } from '../errors';
import { renderTemplate, stableStringify, type Spec } from './template';
import type { UniformSchema, UniformType } from './uniforms';
import type { RuntimeStats } from './stats';
import { ShaderStage } from './gpu_constants';

/** One storage binding of a kernel: its WGSL name, element type (`f32`, `vec4<f32>`, `u32`, …) and access. */
export interface Binding {
  readonly name: string;
  readonly type: string;
  readonly access: 'read' | 'read_write';
}

/** A read-only storage binding (a kernel input). */
export const read = (name: string, type = 'f32'): Binding => ({ name, type, access: 'read' });
/** A read-write storage binding (a kernel output). */
export const write = (name: string, type = 'f32'): Binding => ({ name, type, access: 'read_write' });

/**
 * A kernel: one WGSL template file, its uniforms and, from the spec, its storage bindings. Binding 0 is the
 * `Params` uniform, then the storage buffers in the order `bindings(spec)` gives, inputs (read) before
 * outputs (read_write), all in group 0. The template writes them where the WGSL says `{{BINDINGS}}`, so the
 * spec decides everything the shader text depends on, and the cache key (name + spec) covers it.
 */
export interface KernelDef<U extends Record<string, UniformType> = Record<string, UniformType>, S extends Spec = any> {
  readonly name: string;
  readonly source: string;
  readonly uniforms: UniformSchema<U>;
  readonly bindings: (spec: S) => readonly Binding[];
}

export function defineKernel<U extends Record<string, UniformType>, S extends Spec>(def: KernelDef<U, S>): KernelDef<U, S> {
  return Object.freeze({ ...def });
}

/** Cache key of a specialisation, e.g. `binary[OP=add,WG=64]`: the name plus every parameter the WGSL sees. */
export function kernelKey(def: KernelDef<any>, spec: Spec): string {
  return `${def.name}[${stableStringify(spec)}]`;
}

/** The bindings of a specialisation, checked: inputs first, at least one output. */
export function kernelBindings(def: KernelDef<any>, spec: Spec): { bindings: readonly Binding[]; inputs: number; outputs: number } {
  const bindings = def.bindings(spec);
  const inputs = bindings.findIndex((b) => b.access === 'read_write');
  if (inputs < 0 || bindings.slice(inputs).some((b) => b.access === 'read')) {
    throw new Error(`${kernelKey(def, spec)}: bindings must list the inputs, then at least one output`);
  }
  return { bindings, inputs, outputs: bindings.length - inputs };
}

/** WGSL of the uniform struct and every binding (what `{{BINDINGS}}` becomes). */
function bindingsWgsl(def: KernelDef<any>, spec: Spec): string {
  const lines = [def.uniforms.wgsl, '', '@group(0) @binding(0) var<uniform> params: Params;'];
  kernelBindings(def, spec).bindings.forEach((b, i) => {
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`);
  });
  return lines.join('\n');
}

export interface CompiledKernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Storage buffers read, then written, as `bindings(spec)` lists them. */
  readonly inputs: number;
  readonly outputs: number;
}

/**
 * Static cache of shader modules, bind-group layouts and pipelines, keyed by specialisation (never by
 * tensor sizes, which are uniforms). `prepare` compiles asynchronously (for model load); `get` compiles
 * synchronously on a miss, so the first dispatch of an unprepared kernel still works.
 */
export class PipelineCache {
  private readonly ready = new Map<string, CompiledKernel>();
  private readonly pending = new Map<string, Promise<CompiledKernel>>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly used = new Map<string, { def: KernelDef<any>; spec: Spec }>();

  constructor(
    private readonly device: GPUDevice,
    private readonly stats: RuntimeStats,
    private readonly onCompileError: (err: ShaderCompileError) => void,
  ) {}

  get(def: KernelDef<any>, spec: Spec): CompiledKernel {
    // Frozen once it reaches the runtime: the key computed from it stays true of it.
    Object.freeze(spec);
    const key = kernelKey(def, spec);
    const hit = this.ready.get(key);
    if (hit) return hit;
    const { module, layout, inputs, outputs } = this.module(def, spec, key);
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const compiled = { key, pipeline, layout, inputs, outputs };
    this.ready.set(key, compiled);
    this.used.set(key, { def, spec });
    this.stats.pipelinesCompiled++;
    return compiled;
  }

  /** Compiles with `createComputePipelineAsync`; rejects with `ShaderCompileError` naming the key. */
  prepare(def: KernelDef<any>, spec: Spec): Promise<CompiledKernel> {
    Object.freeze(spec);
    const key = kernelKey(def, spec);
    const hit = this.ready.get(key);
    if (hit) return Promise.resolve(hit);
    let p = this.pending.get(key);
    if (!p) {
      const { module, layout, inputs, outputs } = this.module(def, spec, key);
      p = this.device
        .createComputePipelineAsync({
          label: key,
          layout: this.device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        })
        .then(
          (pipeline) => {
            const compiled = { key, pipeline, layout, inputs, outputs };
            this.ready.set(key, compiled);
            this.used.set(key, { def, spec });
            this.stats.pipelinesCompiled++;
            return compiled;
          },
          (err: unknown) => {
            throw new ShaderCompileError(key, err instanceof Error ? err.message : String(err));
          },
        )
        .finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /** Every specialisation compiled so far (synchronously or ahead of use), in compile order. */
  specializations(): { def: KernelDef<any>; spec: Spec }[] {
    return [...this.used.values()];
  }

  /** The rendered WGSL of a specialisation (for debugging and tests). */
  static render(def: KernelDef<any>, spec: Spec): string {
    return renderTemplate(def.name, def.source, spec, bindingsWgsl(def, spec));
  }

  private module(def: KernelDef<any>, spec: Spec, key: string) {
    const code = PipelineCache.render(def, spec);
    if (flags.printShader.some((s) => key.includes(s))) console.log(`// ---- ${key}\n${code}`);
    const module = this.device.createShaderModule({ label: key, code });
    // Compilation messages arrive asynchronously; a sync pipeline from a bad module only shows up as an
    // invalid object, so report the WGSL error with the key that produced it.
    module.getCompilationInfo?.().then((info) => {
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        this.onCompileError(new ShaderCompileError(key, errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')));
      }
    }, () => undefined);
    const { inputs, outputs } = kernelBindings(def, spec);
    return { module, layout: this.layout(def, spec), inputs, outputs };
  }

  /** One layout per binding signature (the sequence of read and read-write buffers), shared by kernels. */
  private layout(def: KernelDef<any>, spec: Spec): GPUBindGroupLayout {
    const { bindings } = kernelBindings(def, spec);
    const sig = bindings.map((b) => (b.access === 'read' ? 'r' : 'w')).join('');
    let layout = this.layouts.get(sig);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        // The uniform's slot in the device's arena changes every dispatch: a dynamic offset, so bind groups of the
        // same buffers can be reused.
        { binding: 0, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
        ...bindings.map((b, i): GPUBindGroupLayoutEntry => ({
          binding: 1 + i,
          visibility: ShaderStage.COMPUTE,
          buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
        })),
      ];
      layout = this.device.createBindGroupLayout({ label: `layout(${sig})`, entries });
      this.layouts.set(sig, layout);
    }
    return layout;
  }
}

/**
 * Workgroup counts for `count` independent items with `workgroupSize` threads each, folded into two
 * dimensions when one would exceed `maxPerDim`. Kernels recover the flat index with `flat_index`
 * (shaders/common/index.wgsl: `gid.x + gid.y * num_workgroups.x * WG`).
 */
export function flatDispatch(count: number, workgroupSize: number, maxPerDim = 65535): [number, number, number] {
  const groups = Math.ceil(count / workgroupSize);
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
