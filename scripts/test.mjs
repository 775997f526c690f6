#!/usr/bin/env node
// The whole test suite: type-check, vitest (Node + headless Chromium), pytest (weights-tools). Ends with one
// plain line, `N passed, N failed`, adding up every runner, so a run that executed nothing shows as such.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withSwiftShader } from './chromium.mjs';

const tmp = mkdtempSync(path.join(tmpdir(), 'flap-test-'));
const env = withSwiftShader(process.env);
const totals = { passed: 0, failed: 0, skipped: 0 };

function run(cmd, args) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  return spawnSync(cmd, args, { stdio: 'inherit', env }).status;
}

// 1. Types.
const tsc = run('npx', ['tsc', '--noEmit']);
if (tsc === 0) totals.passed++;
else totals.failed++;
console.log(`typecheck: ${tsc === 0 ? 'passed' : 'FAILED'}`);

// 2. vitest.
const vitestJson = path.join(tmp, 'vitest.json');
const vitestArgs = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`, ...process.argv.slice(2)];
const vitest = run('npx', vitestArgs);
if (existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  // A suite that failed to load counts too, even when it registered no test.
  totals.failed += r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
} else {
  console.log(`vitest wrote no report (exit ${vitest})`);
  totals.failed++;
}
if (vitest !== 0 && existsSync(vitestJson) && totals.failed === 0) totals.failed++; // e.g. unhandled errors

// 3. pytest, when weights-tools has tests.
const pyTests = 'weights-tools/tests';
if (existsSync(pyTests) && readdirSync(pyTests).some((f) => /^test_.*\.py$/.test(f))) {
  const junit = path.join(tmp, 'pytest.xml');
  const py = run('/usr/bin/python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', pyTests, `--junitxml=${junit}`]);
  if (existsSync(junit)) {
    const xml = readFileSync(junit, 'utf8');
    const attr = (name) => [...xml.matchAll(new RegExp(`<testsuite [^>]*\\b${name}="(\\d+)"`, 'g'))].reduce((s, m) => s + Number(m[1]), 0);
    const tests = attr('tests');
    const failed = attr('failures') + attr('errors');
    const skipped = attr('skipped');
    totals.passed += tests - failed - skipped;
    totals.failed += failed;
    totals.skipped += skipped;
  } else if (py !== 5) {
    console.log(`pytest wrote no report (exit ${py})`);
    totals.failed++;
  }
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed === 0 && totals.passed > 0 ? 0 : 1);
