#!/usr/bin/env node
// `npm run bench [-- suite…]`: build the packages, then run the benchmark suites on the compiled
// output (benchmarks measure what users run, not a TypeScript loader).
import { spawnSync } from 'node:child_process';

const build = spawnSync('npx', ['turbo', 'run', 'build', '--filter=@tq/bench...', '--output-logs=errors-only'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const run = spawnSync(process.execPath, ['apps/bench/dist/main.js', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(run.status ?? 1);
