/**
 * safetensors reader and writer (format: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON,
 * then the data section). Every malformed input raises `SafetensorsError` naming what and where; nothing
 * here lets a RangeError/TypeError/SyntaxError escape on bad bytes.
 *
 * Random-access sources (`ByteSource`: a buffer, a Node FileHandle — see `node.ts`) read the header first and
 * then each tensor's bytes on demand; a `ReadableStream` (a `fetch` body) is consumed once, front to back,
 * handing each tensor to a callback as soon as its bytes have arrived, so the file is never held twice.
 */
import { SafetensorsError } from '../errors';
import { bf16BitsToF32, f16BitsToF32 } from '../runtime/half';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const dtypeSize: Readonly<Record<SafeDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** Largest header accepted (the reference implementation uses the same 100 MB cap). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  /** Byte range relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Tensors in data order (by `begin`). */
  readonly tensors: readonly TensorInfo[];
  readonly byName: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute offset of the data section (8 + header length). */
  readonly dataStart: number;
  readonly dataLength: number;
  /** Size of the whole file implied by the header. */
  readonly fileSize: number;
}

export interface RawTensor {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  /** Little-endian element bytes, exactly numel × dtype size. */
  readonly bytes: Uint8Array;
}

/** Random-access bytes: a buffer, a file handle, a range-request fetcher. */
export interface ByteSource {
  readonly size: number;
  /**
   * Exactly `length` bytes at `offset` (the caller keeps within `size`). `into`, when given, is a buffer of at
   * least `length` bytes the source may fill and return a view of (a file source does; one holding the bytes
   * already returns its own view), so a loader can reuse two buffers instead of allocating per tensor.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
  /** Shown in errors (a file name). */
  readonly label?: string;
}

export type Progress = (loaded: number, total: number) => void;

function fail(where: string, message: string): never {
  throw new SafetensorsError(where, message);
}

function isDType(s: unknown): s is SafeDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(dtypeSize, s);
}

/** Header length from the first 8 bytes, checked against the cap and (when known) the file size. */
export function readHeaderLength(first8: Uint8Array, fileSize?: number): number {
  if (first8.length < 8) fail('byte 0', `file of ${first8.length} bytes is shorter than the 8-byte header length`);
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) fail('byte 0', `header length ${hi * 2 ** 32 + lo} exceeds the ${MAX_HEADER_BYTES}-byte cap`);
  if (lo < 2) fail('byte 0', `header length ${lo} is too short for a JSON object`);
  if (fileSize !== undefined && 8 + lo > fileSize) fail('byte 0', `header length ${lo} runs past the end of a ${fileSize}-byte file`);
  return lo;
}

/**
 * Duplicate keys in any JSON object (JSON.parse silently keeps the last). Runs on text JSON.parse accepted,
 * so a string followed by ':' is always a key of the innermost open object.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: Set<string>[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '}') stack.pop();
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      let j = i + 1;
      while (j < text.length && ' \t\n\r'.includes(text[j]!)) j++;
      if (text[j] === ':') {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
      }
    }
  }
  return undefined;
}

function checkNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the header bytes (without the 8-byte length). `dataLength` is the size of the data
 * section when known (a buffer or file); for a stream it is implied by the offsets.
 */
export function parseHeader(headerBytes: Uint8Array, dataLength?: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail('header (byte 8)', 'is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header (byte 8)', 'does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail('header (byte 8)', `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('header (byte 8)', 'is not a JSON object');
  const dup = findDuplicateKey(text);
  if (dup !== undefined) fail('header (byte 8)', `duplicate key ${JSON.stringify(dup)}`);

  // Null prototype: a key such as "__proto__" stays an ordinary entry.
  const metadata: Record<string, string> = Object.create(null);
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__', 'is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail('__metadata__', `value of ${JSON.stringify(k)} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(where, 'entry is not an object');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') fail(where, `unknown field ${JSON.stringify(k)}`);
    }
    if (!isDType(e.dtype)) fail(where, `unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every(checkNonNegInt)) fail(where, `shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const shape = e.shape as number[];
    let n = 1;
    for (const d of shape) {
      n *= d;
      if (!Number.isSafeInteger(n)) fail(where, `shape [${shape.join(', ')}] has too many elements`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(checkNonNegInt)) {
      fail(where, `data_offsets ${JSON.stringify(off)} is not [begin, end] of non-negative integers`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) fail(where, `data_offsets [${begin}, ${end}] end before begin`);
    const bytes = n * dtypeSize[e.dtype];
    if (!Number.isSafeInteger(bytes) || end - begin !== bytes) {
      fail(where, `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] ${e.dtype} needs ${bytes}`);
    }
    tensors.push({ name, dtype: e.dtype, shape, begin, end });
  }
  // Empty tensors first at a shared offset, so that contiguity is a simple running check.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const t of tensors) {
    if (t.begin !== pos) {
      fail(`tensor ${JSON.stringify(t.name)}`, t.begin < pos ? `data_offsets [${t.begin}, ${t.end}] overlap the previous tensor (ending at ${pos})` : `gap of ${t.begin - pos} bytes before data_offsets [${t.begin}, ${t.end}]`);
    }
    pos = t.end;
  }
  if (dataLength !== undefined && pos !== dataLength) {
    fail(`data section (byte ${8 + headerBytes.length + Math.min(pos, dataLength)})`, pos < dataLength ? `${dataLength - pos} bytes of trailing data after the last tensor` : `truncated: tensors need ${pos} bytes, the file has ${dataLength}`);
  }
  const dataStart = 8 + headerBytes.length;
  return {
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    metadata,
    dataStart,
    dataLength: pos,
    fileSize: dataStart + pos,
  };
}

function asBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** A whole file in memory. Tensor bytes are views into `bytes` (no copy). */
export function readSafetensors(data: Uint8Array | ArrayBuffer): { header: SafetensorsHeader; tensors: Map<string, RawTensor> } {
  const bytes = asBytes(data);
  const n = readHeaderLength(bytes, bytes.length);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  const tensors = new Map<string, RawTensor>();
  for (const t of header.tensors) {
    tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, bytes: bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end) });
  }
  return { header, tensors };
}

export function bufferSource(data: Uint8Array | ArrayBuffer, label = 'buffer'): ByteSource {
  const bytes = asBytes(data);
  return { size: bytes.length, label, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** A random-access file: the header is parsed on open, tensors are read one at a time on request. */
export class SafetensorsReader {
  private constructor(
    readonly source: ByteSource,
    readonly header: SafetensorsHeader,
  ) {}

  static async open(source: ByteSource): Promise<SafetensorsReader> {
    const label = source.label ? `${source.label}: ` : '';
    try {
      const n = readHeaderLength(source.size >= 8 ? await source.read(0, 8) : new Uint8Array(0), source.size);
      const header = parseHeader(await source.read(8, n), source.size - 8 - n);
      return new SafetensorsReader(source, header);
    } catch (e) {
      // The reader never came to exist, so nobody else would close the source.
      await source.close?.().catch(() => undefined);
      if (e instanceof SafetensorsError && label) throw new SafetensorsError(label + e.where, e.message.replace(/^safetensors [^:]*: /, ''));
      throw e;
    }
  }

  get names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  info(name: string): TensorInfo {
    const t = this.header.byName.get(name);
    if (!t) fail(`tensor ${JSON.stringify(name)}`, `not in ${this.source.label ?? 'the file'}`);
    return t;
  }

  /** One tensor's bytes; with `into` (see `ByteSource.read`) they may be a view of it. */
  async tensor(name: string, into?: Uint8Array): Promise<RawTensor> {
    const t = this.info(name);
    const bytes = await this.source.read(this.header.dataStart + t.begin, t.end - t.begin, into);
    if (bytes.length !== t.end - t.begin) fail(`tensor ${JSON.stringify(name)} (byte ${this.header.dataStart + t.begin})`, 'short read');
    return { name, dtype: t.dtype, shape: t.shape, bytes };
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** Pulls exact byte counts out of a ReadableStream of arbitrary chunks. */
class ExactReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  position = 0;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.done) {
      const { value, done } = await this.reader.read();
      if (done) this.done = true;
      else if (value && value.length) {
        this.chunks.push(value);
        this.buffered += value.length;
      }
    }
  }

  async take(n: number, what: string): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    await this.fill(n);
    if (this.buffered < n) fail(`${what} (byte ${this.position + this.buffered})`, `stream ended early: ${n - this.buffered} more bytes expected`);
    let out: Uint8Array;
    if (this.chunks[0]!.length >= n) {
      out = this.chunks[0]!.subarray(0, n);
      this.chunks[0] = this.chunks[0]!.subarray(n);
      if (!this.chunks[0].length) this.chunks.shift();
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        out.set(c.subarray(0, k), filled);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    this.position += n;
    return out;
  }

  /** Drops `n` bytes without assembling them (tensors the caller did not ask for). */
  async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      if (!this.buffered) await this.fill(1);
      if (!this.buffered) fail(`${what} (byte ${this.position})`, `stream ended early: ${n} more bytes expected`);
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.buffered -= k;
      this.position += k;
      n -= k;
    }
  }

  async atEnd(): Promise<boolean> {
    await this.fill(1);
    return this.buffered === 0;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}

/**
 * Reads a safetensors stream front to back: the header, then each tensor in data order handed to `onTensor`
 * (awaited, so a consumer can upload it before the next one is read). Tensors not in `names` are skipped
 * without being kept. Trailing bytes after the last tensor are an error.
 */
export async function readSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  onTensor: (t: RawTensor, header: SafetensorsHeader) => void | Promise<void>,
  options: { names?: ReadonlySet<string>; onProgress?: Progress; onHeader?: (h: SafetensorsHeader) => void } = {},
): Promise<SafetensorsHeader> {
  const r = new ExactReader(stream.getReader());
  try {
    const n = readHeaderLength(await r.take(8, 'header length'));
    const header = parseHeader(await r.take(n, 'header'));
    options.onHeader?.(header);
    options.onProgress?.(r.position, header.fileSize);
    for (const t of header.tensors) {
      const what = `tensor ${JSON.stringify(t.name)}`;
      if (options.names && !options.names.has(t.name)) await r.skip(t.end - t.begin, what);
      else await onTensor({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: await r.take(t.end - t.begin, what) }, header);
      options.onProgress?.(r.position, header.fileSize);
    }
    if (!(await r.atEnd())) fail(`data section (byte ${r.position})`, 'trailing data after the last tensor');
    return header;
  } catch (e) {
    await r.cancel();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Typed views

export type TypedArrayOf = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | BigUint64Array | Uint32Array | Uint8Array;

/**
 * The elements as a typed array of the dtype (F16/BF16 as raw Uint16Array bits; BOOL as Uint8Array). Shares
 * memory when `bytes` is aligned, copies otherwise. Assumes a little-endian host (every WebGPU platform).
 */
export type ViewOf<D extends SafeDType> = D extends 'F64' ? Float64Array : D extends 'F32' ? Float32Array
  : D extends 'F16' | 'BF16' | 'U16' ? Uint16Array : D extends 'I64' ? BigInt64Array : D extends 'U64' ? BigUint64Array
  : D extends 'I32' ? Int32Array : D extends 'U32' ? Uint32Array : D extends 'I16' ? Int16Array : D extends 'I8' ? Int8Array
  : Uint8Array;

export function typedView<D extends SafeDType>(dtype: D, bytes: Uint8Array): ViewOf<D> {
  return typedViewAny(dtype, bytes) as ViewOf<D>;
}

/** Float values of a float tensor as f32 (F16/BF16 decoded, F64 rounded); integer dtypes are converted too. */
export function toFloat32(dtype: SafeDType, bytes: Uint8Array): Float32Array {
  const v = typedViewAny(dtype, bytes);
  if (dtype === 'F16') return Float32Array.from(v as Uint16Array, f16BitsToF32);
  if (dtype === 'BF16') return Float32Array.from(v as Uint16Array, bf16BitsToF32);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float32Array.from(v, Number);
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

function typedViewAny(dtype: SafeDType, bytes: Uint8Array): TypedArrayOf {
  const size = dtypeSize[dtype];
  const src = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = src.length / size;
  const { buffer, byteOffset } = src;
  switch (dtype) {
    case 'F64': return new Float64Array(buffer, byteOffset, n);
    case 'F32': return new Float32Array(buffer, byteOffset, n);
    case 'F16': case 'BF16': case 'U16': return new Uint16Array(buffer, byteOffset, n);
    case 'I64': return new BigInt64Array(buffer, byteOffset, n);
    case 'U64': return new BigUint64Array(buffer, byteOffset, n);
    case 'I32': return new Int32Array(buffer, byteOffset, n);
    case 'U32': return new Uint32Array(buffer, byteOffset, n);
    case 'I16': return new Int16Array(buffer, byteOffset, n);
    case 'I8': return new Int8Array(buffer, byteOffset, n);
    case 'U8': case 'BOOL': return new Uint8Array(buffer, byteOffset, n);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writer

export interface TensorToWrite {
  dtype: SafeDType;
  shape: readonly number[];
  /** A typed array of the dtype (F16/BF16 as Uint16Array bits) or the raw little-endian bytes. */
  data: ArrayBufferView;
}

/**
 * Serializes tensors in the given key order; the header is padded with spaces to a multiple of 8 bytes like
 * the reference implementation, so the data section starts aligned.
 */
export function serialize(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = { ...metadata };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') fail('tensor "__metadata__"', 'name is reserved');
    if (!isDType(t.dtype)) fail(`tensor ${JSON.stringify(name)}`, `unknown dtype ${JSON.stringify(t.dtype)}`);
    let n = 1;
    for (const d of t.shape) {
      if (!checkNonNegInt(d)) fail(`tensor ${JSON.stringify(name)}`, `invalid shape [${t.shape.join(', ')}]`);
      n *= d;
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.length !== n * dtypeSize[t.dtype]) {
      fail(`tensor ${JSON.stringify(name)}`, `${bytes.length} data bytes for shape [${t.shape.join(', ')}] ${t.dtype} (needs ${n * dtypeSize[t.dtype]})`);
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
