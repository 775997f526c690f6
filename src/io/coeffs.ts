/**
 * Per-frame coefficient sequences from files, so other 3-D head generators can drive FLAP: JSON (an array of
 * 120-number rows, or `{ "coefficients": [...] }`), CSV (one row per frame; a header line is skipped), NumPy
 * `.npy` (2-D float32/float64, C order) or safetensors (the tensor named `coefficients`, else the only one).
 */
import { COEFFS } from '../controls/layout';
import { InputError } from '../errors';
import { readSafetensors, toFloat32 } from '../weights/safetensors';

function checked(data: Float32Array, rows: number, cols: number, what: string): Float32Array {
  if (cols !== COEFFS) throw new InputError('coefficients', `${what}: rows have ${cols} values, FLAP needs ${COEFFS}`);
  if (rows < 1) throw new InputError('coefficients', `${what}: no frames`);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new InputError('coefficients', `${what}: frame ${Math.floor(bad / cols)}, value ${bad % cols} is ${data[bad]}`);
  return data;
}

function fromRows(rows: unknown, what: string): Float32Array {
  if (!Array.isArray(rows) || rows.length === 0) throw new InputError('coefficients', `${what}: expected a non-empty array of rows`);
  const cols = Array.isArray(rows[0]) ? rows[0].length : -1;
  const out = new Float32Array(rows.length * Math.max(cols, 0));
  rows.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== cols) throw new InputError('coefficients', `${what}: row ${i} is not a list of ${cols} numbers`);
    r.forEach((v, j) => (out[i * cols + j] = typeof v === 'number' ? v : NaN));
  });
  return checked(out, rows.length, cols, what);
}

function parseNpy(b: Uint8Array, what: string): Float32Array {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 10 || b[0] !== 0x93 || String.fromCharCode(...b.subarray(1, 6)) !== 'NUMPY') throw new InputError('coefficients', `${what}: not a .npy file`);
  const major = b[6]!;
  const headerLen = major >= 2 ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = (major >= 2 ? 12 : 10) + headerLen;
  const header = new TextDecoder().decode(b.subarray(major >= 2 ? 12 : 10, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1]?.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr || !shape || shape.length !== 2 || fortran) throw new InputError('coefficients', `${what}: need a 2-D C-order array (header ${header.trim()})`);
  const [rows, cols] = shape as [number, number];
  const n = rows * cols;
  const out = new Float32Array(n);
  const little = descr.startsWith('<') || descr.startsWith('|');
  const size = descr.endsWith('f8') ? 8 : descr.endsWith('f4') ? 4 : 0;
  if (!size) throw new InputError('coefficients', `${what}: dtype ${descr} is not float32 or float64`);
  if (start + n * size > b.length) throw new InputError('coefficients', `${what}: truncated (${b.length} bytes for ${rows}x${cols} ${descr})`);
  for (let i = 0; i < n; i++) out[i] = size === 8 ? view.getFloat64(start + i * 8, little) : view.getFloat32(start + i * 4, little);
  return checked(out, rows, cols, what);
}

/** Parses a coefficient file by its name's extension; throws `InputError` naming the problem. */
export function parseCoefficients(name: string, bytes: Uint8Array): { data: Float32Array; frames: number } {
  const ext = name.toLowerCase().split('.').pop();
  let data: Float32Array;
  if (ext === 'json') {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new InputError('coefficients', `${name}: invalid JSON (${(e as Error).message})`);
    }
    data = fromRows(Array.isArray(json) ? json : (json as { coefficients?: unknown })?.coefficients, name);
  } else if (ext === 'csv') {
    const lines = new TextDecoder().decode(bytes).split(/\r?\n/).filter((l) => l.trim() !== '');
    const rows = lines.map((l) => l.split(',').map((v) => (v.trim() === '' ? NaN : Number(v))));
    if (rows.length && rows[0]!.some((v) => Number.isNaN(v)) && lines[0]!.match(/[a-z]/i)) rows.shift();
    data = fromRows(rows, name);
  } else if (ext === 'npy') {
    data = parseNpy(bytes, name);
  } else if (ext === 'safetensors') {
    const { tensors } = readSafetensors(bytes);
    const t = tensors.get('coefficients') ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
    if (!t) throw new InputError('coefficients', `${name}: no tensor named "coefficients" among ${tensors.size}`);
    if (t.shape.length !== 2) throw new InputError('coefficients', `${name}: tensor is [${t.shape.join(', ')}], expected [frames, ${COEFFS}]`);
    data = checked(toFloat32(t.dtype, t.bytes), t.shape[0]!, t.shape[1]!, name);
  } else {
    throw new InputError('coefficients', `${name}: unknown format (use .json, .csv, .npy or .safetensors)`);
  }
  return { data, frames: data.length / COEFFS };
}
