/** bench/chart.ts: the benchmark page's SVG bar chart (log scale), read as markup. */
import { describe, expect, it } from 'vitest';
import { barChart, kernelChart } from '../../bench/chart';
import type { KernelRow } from '../../bench/kernels';

const widths = (svg: string) => [...svg.matchAll(/<rect x="(\d+)" y="[\d.]+" width="([\d.]+)" height="11"/g)].map((m) => Number(m[2]));

describe('bench/chart.ts', () => {
  it('draws one bar per measured value, lengths on a log scale, and says what was not measured', () => {
    const svg = barChart({
      title: 'a <title> & more',
      series: [{ name: 'a', color: '#f00' }, { name: 'b', color: '#00f' }],
      groups: [{ label: 'g1', values: [1, 10] }, { label: 'g2', sub: 'x', values: [100, null], note: 'n' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt;title&gt; &amp; more');
    const [w1, w10, w100] = widths(svg);
    // 1, 10 and 100 ms: equal steps on the log axis (the axis starts at the decade of the smallest value).
    expect(w1).toBeLessThanOrEqual(1);
    expect(w100! - w10!).toBeCloseTo(w10! - 0, 0);
    expect(svg).toContain('b: not measured');
    expect(svg).toContain('>100 ms<');
  });

  it('charts kernel rows: ours, ORT and TF.js per shape with the ratio', () => {
    const row: KernelRow = { adapter: 'x', set: 'mini', op: 'matmul', shape: { m: 2, k: 3, n: 4 }, ms: 2, msKernel: 1.5, gflops: 1, fractionOfCeiling: 0.1, msOrt: 8, msTfjs: null, ratioToBestPeer: 4, errors: ['tfjs: no'] };
    const svg = kernelChart([row], 'x');
    expect(widths(svg)).toHaveLength(2);
    expect(svg).toContain('m2 k3 n4');
    expect(svg).toContain('peer ÷ ours 4');
    expect(svg).toContain('TF.js (WebGPU): not measured');
  });
});
