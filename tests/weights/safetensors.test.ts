import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlapError, SafetensorsError } from '../../src/errors';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../../src/runtime/half';
import { fileSource } from '../../src/weights/node';
import {
  bufferSource,
  dtypeSize,
  parseHeader,
  readSafetensors,
  readSafetensorsStream,
  SafetensorsReader,
  serialize,
  toFloat32,
  typedView,
  type RawTensor,
  type SafeDType,
  type TensorToWrite,
} from '../../src/weights/safetensors';
import { ShardedReader } from '../../src/weights/sharded';
import { rng } from '../harness/assert';

const enc = new TextEncoder();

/** A file from a raw header string and data bytes (for hand-made malformed inputs). */
function rawFile(header: string, data: Uint8Array | number = 0): Uint8Array {
  const h = enc.encode(header);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

function sample(dtype: SafeDType, n: number, random: () => number): ArrayBufferView {
  switch (dtype) {
    case 'F64': return Float64Array.from({ length: n }, () => random() * 200 - 100);
    case 'F32': return Float32Array.from({ length: n }, () => random() * 200 - 100);
    case 'F16': return Uint16Array.from({ length: n }, () => f32ToF16Bits(random() * 20 - 10));
    case 'BF16': return Uint16Array.from({ length: n }, () => Math.floor(random() * 0x7f80));
    case 'I64': return BigInt64Array.from({ length: n }, () => BigInt(Math.floor(random() * 2 ** 40)) - 2n ** 39n);
    case 'U64': return BigUint64Array.from({ length: n }, () => BigInt(Math.floor(random() * 2 ** 50)));
    case 'I32': return Int32Array.from({ length: n }, () => Math.floor(random() * 2 ** 32) - 2 ** 31);
    case 'U32': return Uint32Array.from({ length: n }, () => Math.floor(random() * 2 ** 32));
    case 'I16': return Int16Array.from({ length: n }, () => Math.floor(random() * 65536) - 32768);
    case 'U16': return Uint16Array.from({ length: n }, () => Math.floor(random() * 65536));
    case 'I8': return Int8Array.from({ length: n }, () => Math.floor(random() * 256) - 128);
    case 'U8': return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    case 'BOOL': return Uint8Array.from({ length: n }, () => (random() < 0.5 ? 1 : 0));
  }
}

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const ALL: SafeDType[] = Object.keys(dtypeSize) as SafeDType[];

function sampleSet(seed: number): Record<string, TensorToWrite> {
  const random = rng(seed);
  const out: Record<string, TensorToWrite> = {};
  for (const dt of ALL) out[`w.${dt}`] = { dtype: dt, shape: [3, 5], data: sample(dt, 15, random) };
  out['empty'] = { dtype: 'F32', shape: [4, 0, 2], data: new Float32Array(0) };
  out['scalar'] = { dtype: 'F16', shape: [], data: Uint16Array.of(f32ToF16Bits(2.5)) };
  out['odd'] = { dtype: 'BF16', shape: [3], data: sample('BF16', 3, random) };
  return out;
}

function expectSame(got: Map<string, RawTensor>, want: Record<string, TensorToWrite>): void {
  expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got.get(name)!;
    expect(g.dtype, name).toBe(w.dtype);
    expect(g.shape, name).toEqual(w.shape);
    expect(Buffer.from(g.bytes).equals(Buffer.from(bytesOf(w.data))), name).toBe(true);
  }
}

describe('safetensors format', () => {
  it('round-trips every dtype, empty and 0-rank tensors and metadata', () => {
    const want = sampleSet(1);
    const file = serialize(want, { format: 'pt', note: 'ünïcode ✓' });
    const n = new DataView(file.buffer).getUint32(0, true);
    expect(n % 8).toBe(0); // header padded to 8 bytes like the reference writer
    const { header, tensors } = readSafetensors(file);
    expect({ ...header.metadata }).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expectSame(tensors, want);
    // Typed views decode the values.
    const f32 = typedView('F32', tensors.get('w.F32')!.bytes);
    expect(Array.from(f32)).toEqual(Array.from(want['w.F32']!.data as Float32Array));
    expect(typedView('I64', tensors.get('w.I64')!.bytes)).toEqual(want['w.I64']!.data);
    expect(f16BitsToF32((typedView('F16', tensors.get('scalar')!.bytes) as Uint16Array)[0]!)).toBe(2.5);
    const bf = typedView('BF16', tensors.get('odd')!.bytes) as Uint16Array;
    expect(bf.length).toBe(3);
    expect(bf16BitsToF32(bf[0]!)).toBe(bf16BitsToF32((want['odd']!.data as Uint16Array)[0]!));
    expect(Array.from(toFloat32('BF16', tensors.get('odd')!.bytes))).toEqual(Array.from(want['odd']!.data as Uint16Array, bf16BitsToF32));
    expect(Array.from(toFloat32('F16', tensors.get('w.F16')!.bytes))).toEqual(Array.from(want['w.F16']!.data as Uint16Array, f16BitsToF32));
    expect(Array.from(toFloat32('I64', tensors.get('w.I64')!.bytes))).toEqual(Array.from(want['w.I64']!.data as BigInt64Array, Number).map(Math.fround));
    // No metadata and no tensors at all are valid too.
    expect(readSafetensors(serialize({})).tensors.size).toBe(0);
  });

  it('copies unaligned typed views instead of throwing', () => {
    const buf = new Uint8Array(9);
    new Float32Array(buf.buffer, 0, 2).set([1.5, -2]);
    const shifted = new Uint8Array(9);
    shifted.set(buf.subarray(0, 8), 1);
    expect(Array.from(typedView('F32', shifted.subarray(1, 9)))).toEqual([1.5, -2]);
  });

  it('rejects malformed headers with typed errors that say where', () => {
    const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(() => readSafetensors(rawFile(ok, 8))).not.toThrow();
    const bad: [Uint8Array, RegExp][] = [
      [new Uint8Array(5), /shorter than the 8-byte/],
      [rawFile(ok, 7), /truncated/],
      [rawFile(ok, 9), /trailing data/],
      [rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}', 8), /duplicate key "a"/],
      [rawFile('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8), /duplicate key "dtype"/],
      [rawFile('{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', 8), /tensor "a": unknown dtype/],
      [rawFile('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', 8), /non-negative/],
      [rawFile('{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', 8), /non-negative/],
      [rawFile('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), /needs 12/],
      [rawFile('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}', 8), /too many elements/],
      [rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12), /overlap/],
      [rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12), /gap of 4/],
      [rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', 8), /end before begin/],
      [rawFile('{"__metadata__":{"k":1}}'), /__metadata__: value of "k"/],
      [rawFile('[1,2]'), /does not start|not a JSON object/],
      [rawFile('{"a":'), /not valid JSON/],
      [rawFile('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":1}}'), /unknown field "x"/],
      [new Uint8Array([...new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), 0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/],
    ];
    // A header length that overruns the file, and a u64 above the cap.
    const overrun = rawFile(ok, 8);
    new DataView(overrun.buffer).setUint32(0, 5000, true);
    bad.push([overrun, /runs past the end/]);
    const huge = rawFile(ok, 8);
    new DataView(huge.buffer).setUint32(4, 1, true);
    bad.push([huge, /exceeds the 100000000-byte cap/]);
    for (const [file, pattern] of bad) {
      let err: unknown;
      try {
        readSafetensors(file);
      } catch (e) {
        err = e;
      }
      expect(err, String(pattern)).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toMatch(pattern);
      expect((err as SafetensorsError).where.length).toBeGreaterThan(0);
    }
  });

  it('survives 2,400 mutated and truncated files (600 also streamed): exact tensors or SafetensorsError, nothing else', async () => {
    const random = rng(20251124);
    const base: Record<string, TensorToWrite> = {
      'x.weight': { dtype: 'F32', shape: [2, 3], data: sample('F32', 6, random) },
      'x.bias': { dtype: 'F16', shape: [3], data: sample('F16', 3, random) },
      e: { dtype: 'I8', shape: [0], data: new Int8Array(0) },
      s: { dtype: 'I64', shape: [], data: sample('I64', 1, random) },
    };
    const file = serialize(base, { m: 'v' });
    const hlen = new DataView(file.buffer).getUint32(0, true);
    const headerText = new TextDecoder().decode(file.subarray(8, 8 + hlen));
    const want = readSafetensors(file).tensors;
    const pick = (n: number) => Math.floor(random() * n);
    const mutate = (kind: number): Uint8Array => {
      const f = file.slice();
      switch (kind) {
        case 0: { // bit flip anywhere
          const i = pick(f.length);
          f[i]! ^= 1 << pick(8);
          return f;
        }
        case 1: { // byte change in the header
          f[8 + pick(hlen)] = pick(256);
          return f;
        }
        case 2: // truncation anywhere (length field, header, data)
          return f.subarray(0, pick(f.length));
        case 3: { // bogus header length
          const dv = new DataView(f.buffer);
          dv.setUint32(0, pick(4) === 0 ? pick(2 ** 32) : hlen + pick(64) - 32, true);
          if (pick(4) === 0) dv.setUint32(4, pick(2 ** 32), true);
          return f;
        }
        case 4: { // numeric edits in the header: huge shapes, moved/overlapping offsets
          const nums = [...headerText.matchAll(/\d+/g)];
          const m = nums[pick(nums.length)]!;
          const repl = ['0', '1', '9007199254740993', '1e400', '-1', '4294967296', '18446744073709551615', String(pick(80))][pick(8)]!;
          const text = headerText.slice(0, m.index) + repl + headerText.slice(m.index! + m[0].length);
          const data = file.subarray(8 + hlen);
          return rawFile(text, data);
        }
        default: { // appended garbage or a sliced-out run of bytes
          if (pick(2)) return Uint8Array.from([...f, ...sample('U8', 1 + pick(8), random) as Uint8Array]);
          const a = pick(f.length);
          const b = a + 1 + pick(16);
          return Uint8Array.from([...f.subarray(0, a), ...f.subarray(b)]);
        }
      }
    };
    let parsed = 0;
    let rejected = 0;
    const t0 = performance.now();
    for (let i = 0; i < 2400; i++) {
      const f = mutate(i % 6);
      try {
        const { tensors } = readSafetensors(f);
        parsed++;
        // Accepted: it must be byte-exactly what its own header describes; a mutation confined to the data
        // section may change values, so compare against a re-serialization of what was read.
        for (const t of tensors.values()) expect(t.bytes.length).toBe(t.shape.reduce((a, b) => a * b, 1) * dtypeSize[t.dtype]);
        const again = readSafetensors(serialize(Object.fromEntries([...tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.bytes }])))).tensors;
        expect([...again.keys()].sort()).toEqual([...tensors.keys()].sort());
        if (f.length === file.length && Buffer.from(f.subarray(0, 8 + hlen)).equals(Buffer.from(file.subarray(0, 8 + hlen)))) {
          // Same header: same tensors, and each one's bytes are exactly its range of the (mutated) data.
          expect([...tensors.keys()].sort()).toEqual([...want.keys()].sort());
          for (const [k, w] of want) {
            const g = tensors.get(k)!;
            expect([g.dtype, g.shape]).toEqual([w.dtype, w.shape]);
            expect(g.bytes.byteOffset - f.byteOffset).toBe(w.bytes.byteOffset - file.byteOffset);
          }
        }
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`mutation ${i} (kind ${i % 6}) raised an untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
        expect(e).toBeInstanceOf(FlapError);
        rejected++;
      }
    }
    // The streamed reader must reach the same verdict and tensors on the same inputs (7-byte chunks).
    for (let i = 0; i < 600; i++) {
      const f = mutate(i % 6);
      let buffered: string;
      try {
        buffered = JSON.stringify([...readSafetensors(f).tensors.values()].map((t) => [t.name, t.dtype, t.shape, Array.from(t.bytes)]));
      } catch {
        buffered = 'error';
      }
      let streamed: string;
      try {
        const got: unknown[] = [];
        await readSafetensorsStream(streamOf(f, 7), (t) => void got.push([t.name, t.dtype, t.shape, Array.from(t.bytes)]));
        streamed = JSON.stringify(got);
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`streamed mutation ${i} raised an untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
        streamed = 'error';
      }
      expect(streamed, `mutation ${i}`).toBe(buffered);
    }
    const ms = performance.now() - t0;
    console.log(`fuzz: 2400 + 600 streamed inputs, ${parsed} parsed, ${rejected} rejected, ${ms.toFixed(0)} ms`);
    expect(rejected).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(20_000);
  });
});

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) return c.close();
      c.enqueue(bytes.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
}

describe('streamed and file reading', () => {
  it('reads a ReadableStream with 1-byte, 7-byte and whole chunks, with progress', async () => {
    const want = sampleSet(2);
    const file = serialize(want, { a: 'b' });
    for (const chunk of [1, 7, file.length]) {
      const got = new Map<string, RawTensor>();
      const progress: number[] = [];
      const header = await readSafetensorsStream(streamOf(file, chunk), (t) => void got.set(t.name, { ...t, bytes: t.bytes.slice() }), {
        onProgress: (loaded, total) => {
          expect(total).toBe(file.length);
          progress.push(loaded);
        },
      });
      expect(header.metadata.a).toBe('b');
      expectSame(got, want);
      expect(progress.at(-1)).toBe(file.length);
      expect(progress.every((p, i) => i === 0 || p >= progress[i - 1]!)).toBe(true);
    }
  });

  it('rejects truncated and over-long streams, and reads only the named tensors', async () => {
    const want = sampleSet(3);
    const file = serialize(want);
    await expect(readSafetensorsStream(streamOf(file.subarray(0, file.length - 3), 7), () => {})).rejects.toThrow(/stream ended early/);
    await expect(readSafetensorsStream(streamOf(Uint8Array.from([...file, 0]), 7), () => {})).rejects.toThrow(/trailing data/);
    const seen: string[] = [];
    await readSafetensorsStream(streamOf(file, 5), (t) => void seen.push(t.name), { names: new Set(['w.F32', 'scalar']) });
    expect(seen.sort()).toEqual(['scalar', 'w.F32']);
    // A truncation inside a skipped tensor is still reported.
    await expect(readSafetensorsStream(streamOf(file.subarray(0, file.length - 3), 5), () => {}, { names: new Set(['w.F32']) })).rejects.toThrow(/stream ended early/);
  });

  it('reads a file through a Node FileHandle, tensor by tensor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'st-'));
    try {
      const want = sampleSet(4);
      const path = join(dir, 'm.safetensors');
      await writeFile(path, serialize(want, { k: 'v' }));
      const r = await SafetensorsReader.open(await fileSource(path));
      const got = new Map<string, RawTensor>();
      for (const n of r.names) got.set(n, await r.tensor(n));
      await r.close();
      expectSame(got, want);
      expect(r.header.metadata.k).toBe('v');
      await writeFile(path, serialize(want).subarray(0, 100));
      await expect(fileSource(path).then((s) => SafetensorsReader.open(s))).rejects.toThrow(SafetensorsError);
      await expect(fileSource(join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot open/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resolves a sharded index, opening each shard once, and reports missing shards or tensors', async () => {
    const want = sampleSet(5);
    const names = Object.keys(want);
    const half = Math.ceil(names.length / 2);
    const shards: Record<string, Uint8Array> = {
      'model-00001-of-00002.safetensors': serialize(Object.fromEntries(names.slice(0, half).map((n) => [n, want[n]!]))),
      'model-00002-of-00002.safetensors': serialize(Object.fromEntries(names.slice(half).map((n) => [n, want[n]!]))),
    };
    const total = Object.values(want).reduce((a, t) => a + t.data.byteLength, 0);
    const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const index = JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap });
    const opened: string[] = [];
    const open = async (f: string) => {
      opened.push(f);
      if (!shards[f]) throw new Error('ENOENT');
      return bufferSource(shards[f], f);
    };
    const r = await ShardedReader.open(index, open);
    expect(opened.sort()).toEqual(Object.keys(shards).sort());
    const got = new Map<string, RawTensor>();
    for (const n of r.names) got.set(n, await r.tensor(n));
    expectSame(got, want);

    const missingShard = JSON.stringify({ weight_map: { ...weightMap, extra: 'model-00003.safetensors' } });
    await expect(ShardedReader.open(missingShard, open)).rejects.toThrow(/shard "model-00003.safetensors"/);
    const missingTensor = JSON.stringify({ weight_map: { ...weightMap, ghost: 'model-00001-of-00002.safetensors' } });
    await expect(ShardedReader.open(missingTensor, open)).rejects.toThrow(/tensor "ghost": mapped to shard/);
    const wrongTotal = JSON.stringify({ metadata: { total_size: total + 1 }, weight_map: weightMap });
    await expect(ShardedReader.open(wrongTotal, open)).rejects.toThrow(/total_size/);
    await expect(ShardedReader.open('{"weight_map": 3}', open)).rejects.toThrow(SafetensorsError);
  });
});

describe('files written by Python', () => {
  it('reads a file written by an independent Python writer (struct + json + numpy) and vice versa', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = await mkdtemp(join(tmpdir(), 'stpy-'));
    try {
      const py = join(dir, 'py.safetensors');
      const script = `
import json, struct, sys, numpy as np
a = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
b = np.array([1, -2, 3], dtype=np.int64)
c = np.array([0.5, -1.25], dtype=np.float16)
blobs = [a.tobytes(), b.tobytes(), c.tobytes()]
hdr = {"__metadata__": {"format": "np"}}
off = 0
for name, arr, dt, blob in [("a", a, "F32", blobs[0]), ("b", b, "I64", blobs[1]), ("c", c, "F16", blobs[2])]:
    hdr[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(blob)]}
    off += len(blob)
h = json.dumps(hdr).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h); f.write(b"".join(blobs))
`;
      execFileSync('/usr/bin/python3', ['-c', script, py]);
      const r = await SafetensorsReader.open(await fileSource(py));
      expect(r.header.metadata.format).toBe('np');
      expect(Array.from(typedView('F32', (await r.tensor('a')).bytes))).toEqual(Array.from({ length: 12 }, (_, i) => i / 8));
      expect(Array.from(typedView('I64', (await r.tensor('b')).bytes))).toEqual([1n, -2n, 3n]);
      expect(Array.from(typedView('F16', (await r.tensor('c')).bytes) as Uint16Array, f16BitsToF32)).toEqual([0.5, -1.25]);
      await r.close();

      // And Python reads ours: header padded with spaces, offsets as documented.
      const ours = join(dir, 'ours.safetensors');
      await writeFile(ours, serialize({ x: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, y: { dtype: 'I32', shape: [], data: Int32Array.of(-7) } }, { k: 'v' }));
      const check = `
import json, struct, sys, numpy as np
d = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", d[:8])[0]
assert n % 8 == 0, n
h = json.loads(d[8:8 + n])
base = 8 + n
x = np.frombuffer(d[base + h["x"]["data_offsets"][0]: base + h["x"]["data_offsets"][1]], np.float32).reshape(h["x"]["shape"])
y = np.frombuffer(d[base + h["y"]["data_offsets"][0]: base + h["y"]["data_offsets"][1]], np.int32).reshape(h["y"]["shape"])
print(json.dumps([h["__metadata__"], x.tolist(), int(y), len(d)]))
`;
      const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', check, ours]).toString());
      expect(out.slice(0, 3)).toEqual([{ k: 'v' }, [[1, 2], [3, 4]], -7]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads reference fixtures in tests/fixtures and the exported head asset, when present', async (ctx) => {
    const { readdir, stat } = await import('node:fs/promises');
    const candidates: string[] = [];
    for (const dir of ['tests/fixtures']) {
      const files = await readdir(dir).catch(() => [] as string[]);
      candidates.push(...files.filter((f) => f.endsWith('.safetensors')).map((f) => join(dir, f)));
    }
    const asset = 'weights-tools/.data/head_asset.safetensors';
    if (await stat(asset).then(() => true, () => false)) candidates.push(asset);
    if (!candidates.length) {
      ctx.skip('no Python-written .safetensors in tests/fixtures/ (nor weights-tools/.data/head_asset.safetensors) yet');
      return;
    }
    for (const path of candidates) {
      const r = await SafetensorsReader.open(await fileSource(path));
      try {
        expect(r.names.length, path).toBeGreaterThan(0);
        for (const v of Object.values(r.header.metadata)) expect(typeof v).toBe('string');
        for (const t of r.header.tensors) {
          const raw = await r.tensor(t.name);
          expect(raw.bytes.length).toBe(t.shape.reduce((a, b) => a * b, 1) * dtypeSize[t.dtype]);
          if (t.dtype === 'F32') expect(Array.from(typedView('F32', raw.bytes)).every(Number.isFinite), t.name).toBe(true);
        }
        if (path === asset) {
          for (const n of ['template', 'faces', 'color', 'joints']) expect(r.names, n).toContain(n);
          const faces = r.info('faces');
          expect(faces.dtype).toBe('I32');
          expect(faces.shape[1]).toBe(3);
        }
        console.log(`${path}: ${r.names.length} tensors, ${r.header.fileSize} bytes, metadata keys ${Object.keys(r.header.metadata).join(',')}`);
      } finally {
        await r.close();
      }
    }
  });
});

// parseHeader is exported for callers that read the header bytes themselves; keep it covered.
it('parseHeader checks the data length it is given', () => {
  const h = enc.encode('{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}');
  expect(parseHeader(h, 3).tensors[0]!.name).toBe('a');
  expect(() => parseHeader(h, 4)).toThrow(/trailing/);
});

it('uploads straight from a Node file to the GPU, one tensor read at a time', async () => {
  const { createDevice } = await import('../../src/runtime/device');
  const { loadToDevice } = await import('../../src/weights/load');
  const dir = await mkdtemp(join(tmpdir(), 'stgpu-'));
  const device = await createDevice();
  try {
    const path = join(dir, 'w.safetensors');
    const a = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i));
    const h = Uint16Array.from({ length: 33 }, (_, i) => f32ToF16Bits(i / 8 - 2));
    await writeFile(path, serialize({ a: { dtype: 'F32', shape: [10, 30], data: a }, h: { dtype: 'F16', shape: [33], data: h } }));
    const src = await fileSource(path);
    const reads: number[] = [];
    const read = src.read.bind(src);
    const got = await loadToDevice(device, { ...src, read: (o, n) => (reads.push(n), read(o, n)) }, { onProgress: () => {} });
    await src.close!();
    expect(Array.from(await got.get('a')!.read())).toEqual(Array.from(a));
    expect(got.get('h')!.dtype).toBe('f16');
    expect(Array.from(await got.get('h')!.read())).toEqual(Array.from(h, f16BitsToF32));
    // Header length, header, then one read per tensor: never the whole file at once.
    expect(reads.length).toBe(4);
    expect(Math.max(...reads)).toBe(1200);
    for (const t of got.values()) t.release();
  } finally {
    device.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});
