import { runEverywhere } from '../../harness/run';

// The same cases with `subgroups` treated as absent: the subgroup variant must be refused, the rest run. The
// forced rows and tiled variants are left out: they have no subgroup path, so they would run the same WGSL twice.
await runEverywhere(import.meta.url, {
  cases: './attention.cases.ts',
  variant: 'no subgroups',
  device: { disableFeatures: ['subgroups'] },
  only: (name) => !/^(rows|tiled) variant forced/.test(name),
});
