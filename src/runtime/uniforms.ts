/**
 * Uniform schemas: one declaration gives both the WGSL `struct Params` text and the packer that writes
 * values at the offsets WGSL's layout rules assign, so the two can never disagree.
 *
 * @example
 * const params = uniformSchema({ n: 'u32', eps: 'f32', shape: 'vec4<u32>' });
 * params.wgsl  // "struct Params {\n  n: u32,\n  eps: f32,\n  shape: vec4<u32>,\n}"
 * params.size  // 32: n at 0, eps at 4, shape at 16 (vec4 aligns to 16)
 */

export type ScalarType = 'u32' | 'i32' | 'f32';
export type VectorType = `vec2<${ScalarType}>` | `vec4<${ScalarType}>`;
/** Arrays are of vec4 only, because uniform arrays need a 16-byte element stride. */
export type ArrayType = `array<vec4<${ScalarType}>, ${number}>`;
/** A 3x3 matrix, given as 9 numbers column by column; each column is padded to 16 bytes in memory. */
export type MatrixType = 'mat3x3<f32>';
export type UniformType = ScalarType | VectorType | ArrayType | MatrixType;

export type UniformValues<F extends Record<string, UniformType>> = {
  [K in keyof F]: F[K] extends ScalarType ? number : ArrayLike<number>;
};

interface FieldLayout {
  name: string;
  type: UniformType;
  scalar: ScalarType;
  offset: number;
  count: number;
}

export interface UniformSchema<F extends Record<string, UniformType>> {
  readonly fields: F;
  /** WGSL declaration of `struct Params`. */
  readonly wgsl: string;
  /** Size in bytes, a multiple of 16. */
  readonly size: number;
  /** Writes `values` into `view` at `offset`; throws on a missing field or a wrong element count. */
  write(view: DataView, offset: number, values: UniformValues<F>): void;
}

function describe(type: UniformType): { scalar: ScalarType; count: number; align: number } {
  const scalar = /(u32|i32|f32)/.exec(type)?.[1] as ScalarType | undefined;
  if (!scalar) throw new Error(`unsupported uniform type ${type}`);
  if (type === scalar) return { scalar, count: 1, align: 4 };
  if (type === 'mat3x3<f32>') return { scalar, count: 12, align: 16 };
  if (type.startsWith('vec2')) return { scalar, count: 2, align: 8 };
  if (type.startsWith('vec4')) return { scalar, count: 4, align: 16 };
  const n = Number(/,\s*(\d+)>$/.exec(type)?.[1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`unsupported uniform type ${type}`);
  return { scalar, count: 4 * n, align: 16 };
}

export function uniformSchema<F extends Record<string, UniformType>>(fields: F): UniformSchema<F> {
  const layout: FieldLayout[] = [];
  let offset = 0;
  for (const [name, type] of Object.entries(fields)) {
    const { scalar, count, align } = describe(type);
    offset = Math.ceil(offset / align) * align;
    layout.push({ name, type, scalar, offset, count });
    offset += count * 4;
  }
  const size = Math.max(16, Math.ceil(offset / 16) * 16);
  const wgsl = `struct Params {\n${layout.map((f) => `  ${f.name}: ${f.type},\n`).join('')}}`;

  function write(view: DataView, base: number, values: UniformValues<F>): void {
    for (const f of layout) {
      const v = (values as Record<string, number | ArrayLike<number>>)[f.name];
      if (v === undefined) throw new Error(`uniform ${f.name} is missing`);
      const items: ArrayLike<number> = typeof v === 'number' ? [v] : v;
      const matrix = f.type === 'mat3x3<f32>';
      if (matrix ? items.length !== 9 : items.length > f.count || (f.count <= 4 && items.length !== f.count)) {
        throw new Error(`uniform ${f.name}: ${items.length} values for ${f.type}`);
      }
      for (let i = 0; i < (matrix ? 9 : f.count); i++) {
        const x = i < items.length ? items[i]! : 0;
        const at = base + f.offset + 4 * (matrix ? i + Math.floor(i / 3) : i); // a matrix column takes 4 slots
        if (f.scalar === 'f32') view.setFloat32(at, x, true);
        else if (f.scalar === 'u32') view.setUint32(at, x, true);
        else view.setInt32(at, x, true);
      }
    }
  }
  return { fields, wgsl, size, write };
}
