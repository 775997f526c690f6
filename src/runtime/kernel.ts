import { flags } from '../flags';
import { ShaderCompileError } from '../errors';
import { renderTemplate, stableStringify, type Spec } from './template';
import type { UniformSchema, UniformType } from './uniforms';
import type { RuntimeStats } from './stats';
import { ShaderStage } from './gpu_constants';

/**
 * A kernel: one WGSL template file and the shape of its bindings. Binding 0 is the `Params` uniform, then
 * `inputs` read-only storage buffers, then `outputs` read-write storage buffers, all in group 0.
 */
export interface KernelDef<U extends Record<string, UniformType> = Record<string, UniformType>> {
  readonly name: string;
  readonly source: string;
  readonly uniforms: UniformSchema<U>;
  readonly inputs: number;
  readonly outputs: number;
}

export function defineKernel<U extends Record<string, UniformType>>(def: KernelDef<U>): KernelDef<U> {
  return Object.freeze({ ...def });
}

/** Cache key of a specialisation, e.g. `binary[OP=add,WG=64]`: the name plus every parameter the WGSL sees. */
export function kernelKey(def: KernelDef<any>, spec: Spec): string {
  return `${def.name}[${stableStringify(spec)}]`;
}

export interface CompiledKernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
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

  constructor(
    private readonly device: GPUDevice,
    private readonly stats: RuntimeStats,
    private readonly onCompileError: (err: ShaderCompileError) => void,
  ) {}

  get(def: KernelDef<any>, spec: Spec): CompiledKernel {
    const key = kernelKey(def, spec);
    const hit = this.ready.get(key);
    if (hit) return hit;
    const { module, layout } = this.module(def, spec, key);
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const compiled = { key, pipeline, layout };
    this.ready.set(key, compiled);
    this.stats.pipelinesCompiled++;
    return compiled;
  }

  /** Compiles with `createComputePipelineAsync`; rejects with `ShaderCompileError` naming the key. */
  prepare(def: KernelDef<any>, spec: Spec): Promise<CompiledKernel> {
    const key = kernelKey(def, spec);
    const hit = this.ready.get(key);
    if (hit) return Promise.resolve(hit);
    let p = this.pending.get(key);
    if (!p) {
      const { module, layout } = this.module(def, spec, key);
      p = this.device
        .createComputePipelineAsync({
          label: key,
          layout: this.device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        })
        .then(
          (pipeline) => {
            const compiled = { key, pipeline, layout };
            this.ready.set(key, compiled);
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

  /** The rendered WGSL of a specialisation (for debugging and tests). */
  static render(def: KernelDef<any>, spec: Spec): string {
    return renderTemplate(def.name, def.source, spec, def.uniforms.wgsl);
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
    return { module, layout: this.layout(def) };
  }

  private layout(def: KernelDef<any>): GPUBindGroupLayout {
    const sig = `${def.inputs}:${def.outputs}`;
    let layout = this.layouts.get(sig);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ];
      for (let i = 0; i < def.inputs + def.outputs; i++) {
        entries.push({
          binding: 1 + i,
          visibility: ShaderStage.COMPUTE,
          buffer: { type: i < def.inputs ? 'read-only-storage' : 'storage' },
        });
      }
      layout = this.device.createBindGroupLayout({ label: `layout(${sig})`, entries });
      this.layouts.set(sig, layout);
    }
    return layout;
  }
}

/**
 * Workgroup counts for `count` independent items with `workgroupSize` threads each, folded into two
 * dimensions when one would exceed `maxPerDim`. Kernels recover the flat index with `flatIndex` (see
 * shaders/common: `gid.x + gid.y * num_workgroups.x * WG`).
 */
export function flatDispatch(count: number, workgroupSize: number, maxPerDim = 65535): [number, number, number] {
  const groups = Math.ceil(count / workgroupSize);
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
