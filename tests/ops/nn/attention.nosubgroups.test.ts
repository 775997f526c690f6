import { runEverywhere } from '../../harness/run';

// The same cases with `subgroups` treated as absent: the subgroup variant must be refused, the rest run.
await runEverywhere(import.meta.url, { cases: './attention.cases.ts', variant: 'no subgroups', device: { disableFeatures: ['subgroups'] } });
