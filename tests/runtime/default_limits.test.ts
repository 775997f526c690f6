import { runEverywhere } from '../harness/run';

await runEverywhere(import.meta.url);
