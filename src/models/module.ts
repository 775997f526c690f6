/**
 * The model tree. A module is a plain object whose fields are `Parameter`s, child modules, or arrays of
 * child modules; the PyTorch state-dict name of a weight is the path of fields leading to it, so
 * `down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_out[0].weight` loads
 * `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.weight`. Weight-bearing fields keep the
 * reference's snake_case spelling verbatim for that reason.
 */
import { FlapError } from '../errors';
import type { FlapDevice } from '../runtime/device';
import type { DType, Tensor } from '../runtime/tensor';

/** A weight slot: the shape the config implies, filled by `loadStateDict`. */
export class Parameter {
  private value: Tensor | undefined;

  /**
   * `shape` is the tensor's shape in the checkpoint; with `relayout`, a permutation of its axes, the loader
   * re-lays it on the CPU before upload, so `tensor` holds the permuted layout (convolution weights).
   */
  constructor(
    readonly shape: readonly number[],
    readonly relayout?: readonly number[],
  ) {}

  /** The loaded tensor; throws if the weights were never loaded. */
  get tensor(): Tensor {
    if (!this.value) throw new WeightsError(`parameter of shape [${this.shape.join(', ')}] used before weights were loaded`);
    return this.value;
  }

  get loaded(): boolean {
    return this.value !== undefined;
  }

  set(t: Tensor): void {
    this.value?.release();
    this.value = t;
  }

  release(): void {
    this.value?.release();
    this.value = undefined;
  }
}

/** Base class of every model module; gives the tree walk. Subclasses only declare fields. */
export abstract class Module {
  /** Every parameter under this module with its state-dict name, in declaration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [key, value] of Object.entries(this)) visit(`${prefix}${key}`, value, out);
    return out;
  }

  /** This module and every module under it, depth first. */
  *modules(): Generator<Module> {
    yield this;
    for (const value of Object.values(this)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v instanceof Module) yield* v.modules();
    }
  }

  /**
   * Derives, once the weights are in, what this module itself needs from them (re-laid convolutions, a folded
   * weight norm, constant tables), not its children's. The loader walks every module (`prepareAll`), as
   * `release` walks `dispose`.
   */
  protected prepare(_device: FlapDevice): void | Promise<void> {}

  /** Prepares this module and every module under it; the weight loader calls it after assigning the weights. */
  async prepareAll(device: FlapDevice): Promise<void> {
    for (const m of this.modules()) await m.prepare(device);
  }

  /** Releases every loaded weight and whatever each module derived from them (prepared weights, tables). */
  release(): void {
    for (const m of this.modules()) m.dispose();
  }

  /** Frees what this module itself holds (not its children); subclasses with derived tensors extend it. */
  protected dispose(): void {
    for (const value of Object.values(this)) if (value instanceof Parameter) value.release();
  }
}

function visit(name: string, value: unknown, out: [string, Parameter][]): void {
  if (value instanceof Parameter) out.push([name, value]);
  else if (value instanceof Module) out.push(...value.namedParameters(`${name}.`));
  else if (Array.isArray(value)) value.forEach((v, i) => visit(`${name}.${i}`, v, out));
}

/** The weights file does not fit the model: missing, unexpected or mis-shaped tensors. */
export class WeightsError extends FlapError {
  constructor(
    message: string,
    readonly missing: string[] = [],
    readonly unexpected: string[] = [],
    readonly mismatched: string[] = [],
  ) {
    super('WEIGHTS', message);
  }
}

/** What the loader needs to know about a tensor in a checkpoint before reading it. */
export interface TensorEntry {
  shape: readonly number[];
  dtype: string;
}

/**
 * Checks a checkpoint's tensor table against a module, strictly: every parameter present with its exact
 * shape, no tensor left over (unless `ignore` matches it). Throws one `WeightsError` listing everything wrong,
 * before any weight is uploaded.
 */
export function checkStateDict(module: Module, entries: ReadonlyMap<string, TensorEntry>, ignore: (name: string) => boolean = () => false): void {
  const params = new Map(module.namedParameters());
  const missing = [...params.keys()].filter((n) => !entries.has(n));
  const unexpected = [...entries.keys()].filter((n) => !params.has(n) && !ignore(n));
  const mismatched: string[] = [];
  for (const [name, p] of params) {
    const e = entries.get(name);
    if (e && (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i]))) {
      mismatched.push(`${name}: file [${e.shape.join(', ')}], model [${p.shape.join(', ')}]`);
    }
  }
  if (missing.length || unexpected.length || mismatched.length) {
    const show = (what: string, list: string[]) => (list.length ? `\n  ${what} (${list.length}): ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', …' : ''}` : '');
    throw new WeightsError(
      `weights do not match the model:${show('missing', missing)}${show('unexpected', unexpected)}${show('wrong shape', mismatched)}`,
      missing,
      unexpected,
      mismatched,
    );
  }
}

/** Puts loaded tensors into their parameters (after `checkStateDict`). The module owns them afterwards. */
export function assignStateDict(module: Module, tensors: ReadonlyMap<string, Tensor>): void {
  for (const [name, p] of module.namedParameters()) {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(`tensor ${name} was not loaded`, [name]);
    p.set(t.keep());
  }
}

export type { DType };
