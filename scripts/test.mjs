#!/usr/bin/env node
// The test command (`npm test`): brings up the services the selected test files need, runs every
// package's vitest project once, then prints one plain last line, "N passed, N failed", computed
// from vitest's JSON report. A test file that fails to load counts as a failure, so a broken
// import can never read as "0 failed".
//
//   node scripts/test.mjs [--unit] [--summary FILE] [vitest filters…]
//   --unit      only unit tests (src/**), the set CI also runs on Node 24; needs no service
//   --summary   also write {"passed", "failed"} to FILE (or set TQ_TEST_SUMMARY; .ci/run adds runs up)
//
// Which services a package's integration tests (its test/ folder) need is declared in its
// package.json, as `"tq": { "testServices": [...] }` (every file in test/) or as an object from a
// file or folder under the package to its services. Services that do not answer are started
// through scripts/services.sh (which installs what is missing) and stopped again at the end;
// services that were already running are left alone.
//   TQ_TEST_SERVICES=skip   start nothing; leave out the test files that need a service
//   TQ_TEST_SERVICES=keep   leave the services this run started running afterwards
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = process.cwd();
const args = process.argv.slice(2);
let unit = false;
let summaryFile = process.env.TQ_TEST_SUMMARY || null;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--unit') unit = true;
  else if (args[i] === '--summary') summaryFile = args[++i];
  else filters.push(args[i]);
}
const mode = process.env.TQ_TEST_SERVICES ?? '';
if (!['', 'skip', 'keep'].includes(mode)) {
  console.error(`TQ_TEST_SERVICES=${mode} is not understood (use skip or keep)`);
  process.exit(2);
}

/** Every test file of every workspace package, with the services it needs. */
function testFiles() {
  const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
  const dirs = workspaces.flatMap((pattern) => {
    const base = pattern.replace(/\/\*$/, '');
    if (!existsSync(join(root, base))) return [];
    return readdirSync(join(root, base))
      .map((name) => join(base, name))
      .filter((dir) => existsSync(join(root, dir, 'package.json')) && existsSync(join(root, dir, 'vitest.config.ts')));
  });
  const files = [];
  for (const dir of dirs) {
    const declared = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')).tq?.testServices ?? [];
    for (const sub of ['src', 'test']) {
      for (const file of walk(join(root, dir, sub))) {
        const inPackage = relative(join(root, dir), file);
        let services = [];
        if (sub === 'test') {
          if (Array.isArray(declared)) services = declared;
          else {
            for (const [prefix, list] of Object.entries(declared)) {
              if (inPackage === prefix || inPackage.startsWith(prefix.replace(/\/?$/, '/'))) services = services.concat(list);
            }
          }
        }
        files.push({ path: relative(root, file), services: [...new Set(services)] });
      }
    }
  }
  return files;
}

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'fixtures') return [];
    if (statSync(path).isDirectory()) return walk(path);
    return /\.test(-d)?\.ts$/.test(name) ? [path] : [];
  });
}

function services(command, names, opts = {}) {
  return spawnSync('bash', [join(root, 'scripts/services.sh'), command, ...names], { encoding: 'utf8', ...opts });
}

// The test files this run selects (vitest's positional filters are substrings of file paths).
let selected = testFiles();
if (unit) selected = selected.filter((f) => f.path.includes('/src/'));
if (filters.length > 0) selected = selected.filter((f) => filters.some((x) => f.path.includes(x)));
const needed = [...new Set(selected.flatMap((f) => f.services))];

let vitestFilters = unit ? [...filters, 'src/'] : filters;
let started = [];
if (needed.length > 0 && mode === 'skip') {
  const left = selected.filter((f) => f.services.length > 0);
  selected = selected.filter((f) => f.services.length === 0);
  console.log(`TQ_TEST_SERVICES=skip: leaving out ${left.length} test files that need ${needed.join(', ')}; running ${selected.length}`);
  vitestFilters = selected.map((f) => f.path);
} else if (needed.length > 0) {
  const down = needed.filter((name) => services('status', [name]).status !== 0);
  if (down.length > 0) {
    const t0 = Date.now();
    console.log(`starting ${down.join(', ')} for the tests (scripts/services.sh up; a fresh machine installs them first, 2-3 minutes)`);
    const up = services('up', down, { stdio: 'inherit' });
    if (up.status !== 0) {
      console.error(`could not bring up ${down.join(', ')} (see above); run with TQ_TEST_SERVICES=skip to run only the tests that need no service`);
      finish(0, 1);
    }
    console.log(`started ${down.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    started = down;
  } else {
    console.log(`services already running: ${needed.join(', ')}`);
  }
}

// The services' URLs (TQ_REDIS_URL, …) as scripts/services.sh reports them, unless set already.
const env = { ...process.env };
if (needed.length > 0 && mode !== 'skip') {
  for (const line of services('env', []).stdout.split('\n')) {
    const m = /^export (TQ_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m && env[m[1]] === undefined) env[m[1]] = m[2];
  }
}
if (!env.FORCE_COLOR) env.NO_COLOR = '1';

const dir = mkdtempSync(join(tmpdir(), 'tq-test-'));
const report = join(dir, 'report.json');
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const run =
  selected.length === 0
    ? { status: 1 }
    : spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...vitestFilters], {
        stdio: 'inherit',
        env,
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
if (started.length > 0 && mode !== 'keep') {
  console.log(`stopping what this run started: ${started.join(', ')} (TQ_TEST_SERVICES=keep leaves them running)`);
  services('down', started, { stdio: ['ignore', 'ignore', 'inherit'] });
}
if (passed + failed === 0) failed = 1; // nothing ran: that is a failure, not a pass
finish(passed, failed, run.status);

function finish(passed, failed, status = 1) {
  if (summaryFile) writeFileSync(summaryFile, JSON.stringify({ passed, failed }));
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(failed > 0 || status !== 0 ? 1 : 0);
}
