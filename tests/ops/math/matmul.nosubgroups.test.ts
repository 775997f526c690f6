import { runEverywhere } from '../../harness/run';

// The same cases with `subgroups` treated as absent: the subgroup case checks it is skipped, the rest run the
// plain reductions.
await runEverywhere(import.meta.url, { cases: './matmul.cases.ts', variant: 'no subgroups', device: { disableFeatures: ['subgroups'] } });
