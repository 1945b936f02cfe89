#!/usr/bin/env node
// Keeps `npm ci` working against this workplace's npm registry, which serves the platform
// packages for this machine but answers 404 for other platforms' optional binaries (rollup's,
// turbo's, …). npm then leaves them out of package-lock.json and `npm ci` refuses the lock as out
// of sync. This adds the entries npm would have written (version, os, cpu, libc, optional), so
// npm skips them by platform without fetching. Run it after `npm install` changes the lock:
//   node scripts/lockfile-platforms.mjs [package-lock.json]
import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pkgs[key] || name === 'fsevents') continue;
    const m = /(android|darwin|freebsd|linux|openbsd|openharmony|win32|windows)-?(arm64|arm|x64|ia32|loong64|ppc64|riscv64|s390x|64)?/.exec(name);
    if (!m) continue;
    const os = m[1] === 'windows' ? 'win32' : m[1];
    const cpu = m[2] === '64' ? 'x64' : m[2];
    const e = { version: version.replace(/^[~^]/, ''), cpu: cpu ? [cpu] : undefined, os: [os], optional: true };
    if (name.includes('musl')) e.libc = ['musl'];
    else if (name.includes('gnu') && os === 'linux') e.libc = ['glibc'];
    pkgs[key] = e;
    added++;
  }
}
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`${file}: added ${added} platform entr${added === 1 ? 'y' : 'ies'}`);
