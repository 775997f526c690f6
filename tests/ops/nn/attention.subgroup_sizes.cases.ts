/**
 * The `subgroup` attention variant on devices that report subgroup sizes other than the ones they run:
 * SwiftShader runs 4-wide subgroups, and each case opens a device that reports 8, 16, 32 or 64 (or a range, as
 * Intel does), so the kernel is shaped for the reported size while the hardware merges 4 lanes at a time, as on
 * real adapters that report one size and run another. Results must match the float64 reference regardless.
 */
import { selectVariant, subgroupLanes } from '../../../src/ops/nn/attention';
import { assertEqual } from '../../harness/assert';
import type { Cases, CaseContext } from '../../harness/cases';
import { checkTokens, type TokenProblem } from './attention.cases';

/**
 * Odd shapes: head dims not multiples of 4 (scalar loads) and up to 160 (40 chunks, more than 32 lanes, so lanes
 * own two output chunks; with 64 lanes, sixteen 4-wide subgroups exceed the kernel's 12 slots at d 160 and merge
 * in two rounds), key counts that leave lanes without keys (1, 7) or give each lane several blocks (200), two key
 * sources, and batches of rows.
 */
const PROBLEMS: TokenProblem[] = [
  { B: 1, heads: 3, d: 12, lq: 7, lk: 63 },
  { B: 2, heads: 1, d: 5, lq: 3, lk: 200 },
  { B: 1, heads: 2, d: 160, lq: 3, lk: 65 },
  { B: 2, heads: 2, d: 8, lq: 5, lk: 1 },
  { B: 1, heads: 1, d: 40, lq: 9, lk: 7, lk2: 130 },
];

async function sweep({ openDevice, log }: CaseContext, min: number, max: number, lanes: number): Promise<void> {
  const device = await openDevice({ subgroupSizes: { min, max } });
  if (!device.info.features.subgroups) {
    log('no subgroups on this adapter: nothing to check');
    return;
  }
  assertEqual([device.info.subgroupMinSize, device.info.subgroupMaxSize], [min, max], 'reported subgroup sizes');
  assertEqual(subgroupLanes(device.info), lanes, 'lanes per row');
  const spec = selectVariant(device.info, { headDim: 12, rows: 21, lq: 7, lk: 63, concat: false, aligned: true }, 'subgroup');
  assertEqual(spec.WG, lanes, 'workgroup size of the subgroup variant');
  let worst = 0;
  for (const [n, p] of PROBLEMS.entries()) worst = Math.max(worst, await checkTokens(device, p, 900 + n, 'subgroup', `reports ${min}..${max}`));
  log(`reports ${min}..${max}, ${lanes} lanes: ${PROBLEMS.length} problems, max |err| ${worst.toExponential(2)}`);
}

export const cases: Cases = {
  'reports 8: 32 lanes of 4-wide subgroups merge through workgroup memory': (t) => sweep(t, 8, 8, 32),
  'reports 16: 32 lanes': (t) => sweep(t, 16, 16, 32),
  'reports 32: 32 lanes': (t) => sweep(t, 32, 32, 32),
  'reports 64: 64 lanes, 16 subgroups in flight': (t) => sweep(t, 64, 64, 64),
  'reports a varying 8..32 (as Intel does): 32 lanes': (t) => sweep(t, 8, 32, 32),
};
