#!/usr/bin/env node
// Runs jest (arguments are passed through) and ends with one plain line,
// `N passed, N failed[, N skipped]`, read from jest's JSON results. Exits
// non-zero when anything failed or jest itself failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.test-results');
// One results file per run, so runs side by side never read each other's.
const outFile = join(outDir, `jest-${process.pid}.json`);
mkdirSync(outDir, { recursive: true });
rmSync(outFile, { force: true });

const jestBin = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const res = spawnSync(
  process.execPath,
  ['--experimental-vm-modules', '--no-warnings', jestBin, '--json', `--outputFile=${outFile}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
let skipped = 0;
let suitesFailed = 0;
try {
  const r = JSON.parse(readFileSync(outFile, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  // A suite that fails to load has no failing test but must still fail the run.
  suitesFailed = r.numRuntimeErrorTestSuites ?? 0;
} catch {
  console.error('run-tests: jest wrote no results');
  failed = Math.max(failed, 1);
}
if (suitesFailed > 0) failed += suitesFailed;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || res.status !== 0 ? 1 : 0);
