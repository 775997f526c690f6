// Small helpers shared by the benchmark suites.

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median wall time of `run` over `reps` runs after `warmup` unmeasured ones (compilation, first uploads). */
export async function timeMedian(run: () => Promise<void>, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export function randomData(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2;
  }
  return out;
}

/** How far a suite has got: `done` of `total` units of work, and what it is doing now. */
export interface Progress {
  done: number;
  total: number;
  label: string;
}

/** A results table: the page shows it as HTML, the suites write it as markdown; the cells are the same. */
export interface Table {
  columns: string[];
  rows: unknown[][];
}

/** A table cell as text: numbers with 3 significant digits, missing values as a dash. */
export function formatCell(v: unknown): string {
  return typeof v === 'number' ? (Number.isFinite(v) ? Number(v.toPrecision(3)).toString() : '—') : v == null ? '—' : String(v);
}

/** A markdown table from rows of plain values (cells as `formatCell` writes them). */
export function markdownTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(formatCell).join(' | ')} |`)].join('\n') + '\n';
}
