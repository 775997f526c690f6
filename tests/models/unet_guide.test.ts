import { runEverywhere } from '../harness/run';

// Node only: the same code runs in Chromium, and the mini model's random weights take most of the time.
await runEverywhere(import.meta.url, { where: ['node'] });
