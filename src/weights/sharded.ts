/** Sharded checkpoints: `model.safetensors.index.json` with `weight_map` (tensor name → shard file). */
import { SafetensorsError } from '../errors';
import { SafetensorsReader, type ByteSource, type RawTensor } from './safetensors';

export interface ShardIndex {
  readonly weightMap: ReadonlyMap<string, string>;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Distinct shard files, in first-mention order. */
  readonly files: readonly string[];
}

export function parseIndex(text: string, where = 'index'): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(where, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(where, 'is not a JSON object');
  const { weight_map: wm, metadata } = json as Record<string, unknown>;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new SafetensorsError(where, 'has no weight_map object');
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || !file) throw new SafetensorsError(`${where}: weight_map[${JSON.stringify(name)}]`, 'is not a file name');
    weightMap.set(name, file);
  }
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) throw new SafetensorsError(where, 'metadata is not an object');
  return { weightMap, metadata: (metadata ?? {}) as Record<string, unknown>, files: [...new Set(weightMap.values())] };
}

/** Every shard opened once; each name of the weight map checked to exist in its shard. */
export class ShardedReader {
  private constructor(
    readonly index: ShardIndex,
    private readonly shards: ReadonlyMap<string, SafetensorsReader>,
  ) {}

  static async open(indexText: string, openShard: (file: string) => Promise<ByteSource>): Promise<ShardedReader> {
    const index = parseIndex(indexText);
    const shards = new Map<string, SafetensorsReader>();
    try {
      for (const file of index.files) {
        let src: ByteSource;
        try {
          src = await openShard(file);
        } catch (e) {
          if (e instanceof SafetensorsError) throw e;
          throw new SafetensorsError(`shard ${JSON.stringify(file)}`, `cannot be opened (${(e as Error).message})`);
        }
        shards.set(file, await SafetensorsReader.open({ ...src, label: src.label ?? file, read: src.read.bind(src), close: src.close?.bind(src) }));
      }
      for (const [name, file] of index.weightMap) {
        if (!shards.get(file)!.header.byName.has(name)) throw new SafetensorsError(`tensor ${JSON.stringify(name)}`, `mapped to shard ${JSON.stringify(file)} which does not contain it`);
      }
      const total = index.metadata.total_size;
      if (typeof total === 'number') {
        let sum = 0;
        for (const r of shards.values()) sum += r.header.dataLength;
        // Writers count only tensor bytes; a different total means the index and shards disagree.
        if (sum !== total) throw new SafetensorsError('index metadata.total_size', `is ${total} but the shards hold ${sum} tensor bytes`);
      }
    } catch (e) {
      for (const r of shards.values()) await r.close().catch(() => undefined);
      throw e;
    }
    return new ShardedReader(index, shards);
  }

  get names(): string[] {
    return [...this.index.weightMap.keys()];
  }

  shardOf(name: string): SafetensorsReader {
    const file = this.index.weightMap.get(name);
    if (file === undefined) throw new SafetensorsError(`tensor ${JSON.stringify(name)}`, 'not in the weight_map');
    return this.shards.get(file)!;
  }

  tensor(name: string, into?: Uint8Array): Promise<RawTensor> {
    return this.shardOf(name).tensor(name, into);
  }

  async close(): Promise<void> {
    for (const r of this.shards.values()) await r.close();
  }
}
