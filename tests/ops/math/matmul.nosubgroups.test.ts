import { runEverywhere } from '../../harness/run';

// The same cases with `subgroups` treated as absent: the subgroup case checks it is skipped, the rest run the
// plain reductions. The forced blocked and tiled variants are left out: only splitk has a subgroup path, so
// without subgroups they would run the same WGSL a second time.
await runEverywhere(import.meta.url, {
  cases: './matmul.cases.ts',
  variant: 'no subgroups',
  device: { disableFeatures: ['subgroups'] },
  only: (name) => !/^(blocked|tiled) variant/.test(name),
});
