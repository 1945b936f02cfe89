/**
 * `--autoreload`: watch the app module and the files it imports (relative imports, followed
 * through the project, never into node_modules) and restart the pool when one changes, so new
 * children run the new code while running tasks finish in the old ones. Changes are debounced;
 * the import graph is read again after each restart, so new imports are watched too.
 *
 * Imports are found by reading the sources (static `import`/`export … from`, `import()` and
 * `require()` with a literal path), which covers how apps are written without running them.
 */
import { existsSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bootstep } from './bootsteps.js';
import type { Worker } from './worker.js';

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g;
const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx'];

/** The file path of an `-A` spec (`path[:export]`, or a file URL). */
export function modulePath(spec: string): string {
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-z]:[\\/]/i.test(spec) && !spec.slice(colon + 1).includes('/') && !spec.startsWith('file:');
  const path = hasExport ? spec.slice(0, colon) : spec;
  return path.startsWith('file:') ? fileURLToPath(path) : resolve(path);
}

/** The nearest directory at or above `file` that has a package.json (the project), else the file's directory. */
export function projectDir(file: string): string {
  let dir = dirname(file);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return dirname(file);
    dir = parent;
  }
}

function resolveImport(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return null;
  const base = resolve(dirname(from), specifier);
  const candidates = [base];
  const ext = /\.[cm]?[jt]sx?$/.exec(base)?.[0];
  if (ext) {
    const stem = base.slice(0, -ext.length);
    if (ext === '.js' || ext === '.jsx') candidates.push(`${stem}.ts`, `${stem}.tsx`);
    if (ext === '.mjs') candidates.push(`${stem}.mts`);
    if (ext === '.cjs') candidates.push(`${stem}.cts`);
  } else {
    for (const e of SOURCE_EXTENSIONS) candidates.push(`${base}${e}`);
    for (const e of SOURCE_EXTENSIONS) candidates.push(join(base, `index${e}`));
  }
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** The app module and every source file it imports, transitively, inside `root` and outside node_modules. */
export function importGraph(entry: string, root = projectDir(entry)): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  const inside = (file: string) => (file === entry || file.startsWith(root + sep)) && !file.split(sep).includes('node_modules');
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file) || !inside(file)) continue;
    seen.add(file);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of source.matchAll(IMPORT_RE)) {
      const target = resolveImport(file, match[2]!);
      if (target && !seen.has(target)) pending.push(target);
    }
  }
  return [...seen];
}

export class Autoreloader {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private restarting: Promise<void> = Promise.resolve();
  files: string[] = [];

  constructor(
    private readonly worker: Worker,
    private readonly entry: string,
    private readonly debounceMs = 300,
  ) {}

  start(): void {
    this.watchAll();
    this.worker.logger.info(`autoreload: watching ${this.files.length} file(s) of ${this.entry}`);
  }

  private watchAll(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    this.files = importGraph(this.entry);
    for (const file of this.files) {
      try {
        const watcher = watch(file, { persistent: false }, () => this.changed(file));
        watcher.on('error', () => this.changed(file));
        this.watchers.push(watcher);
      } catch (err) {
        this.worker.logger.warn(`autoreload: cannot watch ${file}: ${(err as Error).message}`);
      }
    }
  }

  private changed(file: string): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped || this.worker.state !== 'running') return;
      this.worker.logger.info(`autoreload: ${file} changed; restarting the pool`);
      this.restarting = this.restarting
        .then(() => this.worker.restartPool())
        .catch((err: unknown) => this.worker.logger.error(`autoreload: restart failed: ${(err as Error).message}`))
        .finally(() => {
          if (!this.stopped) this.watchAll();
        });
    }, this.debounceMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }
}

export function autoreloadStep(worker: Worker): Bootstep<Worker> {
  const reloader = new Autoreloader(worker, modulePath(worker.appModule!));
  return { name: 'autoreload', requires: ['pool', 'consumer'], start: () => reloader.start(), stop: () => reloader.stop() };
}
