// The benchmark page's chart: inline SVG markup, horizontal bars of milliseconds on a log scale (the runtimes differ
// by orders of magnitude), one group of bars per problem, one bar per runtime, the value at the end of each bar.
import type { KernelRow } from './kernels';
import type { UnetRow } from './unet';
import { formatCell } from './stats';

export interface Series {
  name: string;
  color: string;
}

export interface BarGroup {
  label: string;
  /** A second, smaller line under the label (e.g. the shape). */
  sub?: string;
  /** One value per series; null: not measured (failed, skipped or missing). */
  values: (number | null)[];
  /** Text at the right end of the group (e.g. the ratio). */
  note?: string;
  /** The bars' colour instead of the series' (for one-series charts). */
  color?: string;
}

export interface Chart {
  title: string;
  series: Series[];
  groups: BarGroup[];
  width?: number;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Milliseconds as a tick label: 0.1 ms, 10 ms, 1 s, 100 s. */
function msLabel(ms: number): string {
  return ms >= 1000 ? `${formatCell(ms / 1000)} s` : `${formatCell(ms)} ms`;
}

/** The SVG markup of a bar chart of milliseconds (log scale). */
export function barChart(chart: Chart): string {
  const width = chart.width ?? 760;
  const labelW = 210, noteW = 110, valueW = 64, top = 66, barH = 11, barGap = 2, groupGap = 12;
  const plotL = labelW, plotR = width - noteW - valueW;
  const values = chart.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && v > 0 && Number.isFinite(v));
  const lo = Math.floor(Math.log10(values.length ? Math.min(...values) : 1));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(values.length ? Math.max(...values) : 10)));
  const x = (v: number) => plotL + ((Math.log10(v) - lo) / (hi - lo)) * (plotR - plotL);
  const groupH = chart.series.length * (barH + barGap) - barGap;
  const height = top + chart.groups.length * (groupH + groupGap) + 8;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(chart.title)}">`,
    `<text x="0" y="14" class="chart-title">${escape(chart.title)}</text>`,
  ];
  // Legend (a one-series chart names its bars by their labels).
  let lx = 0;
  for (const s of chart.series.length > 1 ? chart.series : []) {
    out.push(`<rect x="${lx}" y="24" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="33" class="chart-legend">${escape(s.name)}</text>`);
    lx += 24 + 7 * s.name.length;
  }
  // Decade grid lines and their labels.
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d).toFixed(1);
    out.push(`<line x1="${gx}" x2="${gx}" y1="${top - 6}" y2="${height - 8}" class="chart-grid"/>`);
    out.push(`<text x="${gx}" y="${top - 9}" text-anchor="middle" class="chart-axis">${msLabel(10 ** d)}</text>`);
  }
  chart.groups.forEach((g, gi) => {
    const gy = top + gi * (groupH + groupGap);
    const mid = gy + groupH / 2;
    out.push(`<text x="${labelW - 8}" y="${(g.sub ? mid - 2 : mid + 4).toFixed(1)}" text-anchor="end" class="chart-label">${escape(g.label)}</text>`);
    if (g.sub) out.push(`<text x="${labelW - 8}" y="${(mid + 10).toFixed(1)}" text-anchor="end" class="chart-sub">${escape(g.sub)}</text>`);
    chart.series.forEach((s, si) => {
      const y = gy + si * (barH + barGap);
      const v = g.values[si];
      if (v === null || v === undefined || !(v > 0) || !Number.isFinite(v)) {
        out.push(`<text x="${plotL + 4}" y="${y + barH - 2}" class="chart-missing">${escape(chart.series.length > 1 ? `${s.name}: not measured` : 'not measured')}</text>`);
        return;
      }
      const end = x(v);
      out.push(`<rect x="${plotL}" y="${y}" width="${Math.max(1, end - plotL).toFixed(1)}" height="${barH}" fill="${g.color ?? s.color}"><title>${escape(`${s.name}: ${formatCell(v)} ms`)}</title></rect>`);
      out.push(`<text x="${(end + 4).toFixed(1)}" y="${y + barH - 2}" class="chart-value">${msLabel(v)}</text>`);
    });
    if (g.note) out.push(`<text x="${width - 4}" y="${(mid + 4).toFixed(1)}" text-anchor="end" class="chart-note">${escape(g.note)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

const OURS = { name: 'flap-webgpu', color: '#e8590c' };

export function kernelChart(rows: readonly KernelRow[], adapter: string): string {
  return barChart({
    title: `Kernels: ms per run (op + readback), log scale — ${adapter}`,
    series: [OURS, { name: 'ORT Web (WebGPU)', color: '#1971c2' }, { name: 'TF.js (WebGPU)', color: '#2f9e44' }],
    groups: rows.map((r) => ({
      label: `${r.set} ${r.op}`,
      sub: Object.entries(r.shape).map(([k, v]) => `${k}${v}`).join(' '),
      values: [r.ms, r.msOrt, r.msTfjs],
      note: r.ratioToBestPeer === null ? undefined : `peer ÷ ours ${formatCell(r.ratioToBestPeer)}`,
    })),
  });
}

export function unetChart(row: UnetRow): string {
  const ratio = (v: number | null) => (v === null ? undefined : `÷ ours ${formatCell(v / row.msOurs)}`);
  return barChart({
    title: `mini UNet step: ms per step, log scale — ${row.adapter}`,
    series: [{ name: 'ms per step', color: '#495057' }],
    groups: [
      { label: 'flap-webgpu', values: [row.msOurs], color: OURS.color },
      { label: 'ORT Web, WebGPU EP', values: [row.msOrtWebgpu], note: ratio(row.msOrtWebgpu), color: '#1971c2' },
      { label: 'ORT Web, WASM EP', sub: `${row.ortWasmThreads} thread(s)`, values: [row.msOrtWasm], note: ratio(row.msOrtWasm), color: '#7048e8' },
    ],
  });
}
