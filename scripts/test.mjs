#!/usr/bin/env node
// The test command (`npm test`): runs every package's vitest project once, then prints one
// plain last line, "N passed, N failed", computed from vitest's JSON report. A test file that
// fails to load counts as a failure, so a broken import can never read as "0 failed".
//
//   node scripts/test.mjs [--unit] [--summary FILE] [vitest filters…]
//   --unit      only unit tests (src/**), the set CI also runs on Node 24
//   --summary   also write {"passed", "failed"} to FILE (or set TQ_TEST_SUMMARY; .ci/run adds runs up)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
let unit = false;
let summaryFile = process.env.TQ_TEST_SUMMARY || null;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--unit') unit = true;
  else if (args[i] === '--summary') summaryFile = args[++i];
  else filters.push(args[i]);
}
if (unit) filters.push('src/'); // unit tests live beside the code: <package>/src/**/*.test.ts

const dir = mkdtempSync(join(tmpdir(), 'tq-test-'));
const report = join(dir, 'report.json');
const vitest = join(process.cwd(), 'node_modules', 'vitest', 'vitest.mjs');
const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...filters], {
  stdio: 'inherit',
  env: process.env.FORCE_COLOR ? process.env : { ...process.env, NO_COLOR: '1' },
});

let passed = 0;
let failed = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  failed = json.numFailedTests ?? 0;
  // Files that failed without a failing test (import errors, crashes in hooks) are failures too.
  for (const file of json.testResults ?? []) {
    const anyFailedTest = (file.assertionResults ?? []).some((t) => t.status === 'failed');
    if (file.status === 'failed' && !anyFailedTest) failed += 1;
  }
} catch (err) {
  console.error(`could not read the vitest report (${err.message}); vitest exited with ${run.status ?? run.signal}`);
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
if (passed + failed === 0) failed = 1; // nothing ran: that is a failure, not a pass
if (summaryFile) writeFileSync(summaryFile, JSON.stringify({ passed, failed }));
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || run.status !== 0 ? 1 : 0);
