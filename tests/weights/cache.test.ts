import { runEverywhere } from '../harness/run';

// Cache Storage exists only in the browser.
await runEverywhere(import.meta.url, { where: ['chromium'] });
