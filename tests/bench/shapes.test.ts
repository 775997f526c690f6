/**
 * bench/shapes.ts is a copy of weights-tools/export_onnx.py's SHAPE_SETS (so that the benchmark page runs without the
 * graphs): the copy must list the same sets, ops and shapes in the same order, and name files as op_file_name does.
 * The Python text is read, not run (no torch needed).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseFor, kernelCases, OP_KEYS, SHAPE_SETS } from '../../bench/shapes';

const source = readFileSync(resolve(import.meta.dirname, '../../weights-tools/export_onnx.py'), 'utf8');

/** SHAPE_SETS of export_onnx.py: `"set": { "op": [dict(k=v, ...), ...], ... }, ...` */
function pythonShapeSets(): Record<string, Record<string, Record<string, number>[]>> {
  const block = /^SHAPE_SETS = \{\n([\s\S]*?)^\}/m.exec(source)?.[1];
  if (!block) throw new Error('export_onnx.py has no SHAPE_SETS block');
  const out: Record<string, Record<string, Record<string, number>[]>> = {};
  let set = '', op = '';
  for (const m of block.matchAll(/"(\w+)":\s*\{|"(\w+)":\s*\[|dict\(([^)]*)\)/g)) {
    if (m[1]) out[(set = m[1])] = {};
    else if (m[2]) out[set]![(op = m[2])] = [];
    else out[set]![op]!.push(Object.fromEntries(m[3]!.split(',').map((kv) => kv.split('=').map((s) => s.trim())).map(([k, v]) => [k!, Number(v)])));
  }
  return out;
}

describe('bench/shapes.ts', () => {
  it('lists the sets, ops and shapes of export_onnx.py SHAPE_SETS, in order', () => {
    const py = pythonShapeSets();
    expect(Object.keys(py)).toEqual(['sd15', 'mini']);
    expect(SHAPE_SETS).toEqual(py);
    for (const [set, ops] of Object.entries(py)) expect(Object.keys(SHAPE_SETS[set]!)).toEqual(Object.keys(ops));
  });

  it('has the ops and key order of export_onnx.py OPS', () => {
    for (const [op, keys] of Object.entries(OP_KEYS)) {
      const m = new RegExp(`"${op}": \\(\\(([^)]*)\\)`).exec(source);
      expect(m?.[1]?.split(',').map((k) => k.trim().replace(/"/g, '')).filter(Boolean), op).toEqual(keys);
    }
  });

  it('names graphs as op_file_name and counts FLOPs as export_onnx.py', () => {
    expect(caseFor('sd15', 'conv2d3x3', { o: 320, n: 1, c: 320, h: 64, w: 64 })).toEqual({
      set: 'sd15', op: 'conv2d3x3', shape: { n: 1, c: 320, h: 64, w: 64, o: 320 }, file: 'conv2d3x3_n1_c320_h64_w64_o320.onnx', flops: 2 * 320 * 64 * 64 * 320 * 9,
    });
    expect(caseFor('mini', 'attention', { b: 2, heads: 3, l: 6, s: 5, d: 4 }).flops).toBe(4 * 2 * 3 * 6 * 5 * 4);
    expect(kernelCases().length).toBe(26);
    expect(kernelCases(['mini'], ['matmul']).map((c) => c.file)).toEqual(['matmul_m1280_k96_n96.onnx']);
    expect(() => kernelCases(['sd21'])).toThrow(/unknown set sd21/);
  });
});
