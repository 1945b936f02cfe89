/**
 * `--statedb FILE`: the worker's persistent state, as Celery's `Persistent` — the revoked ids
 * (with when they were revoked) and the logical clock. Merged into the worker at start-up and
 * written when revokes change (debounced) and at shutdown, atomically (a temporary file renamed
 * over the old one), as JSON: `{"version": 1, "revoked": [[id, epochSeconds], …], "clock": N}`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigurationError } from '@tq/core';
import type { Bootstep } from './bootsteps.js';
import type { Worker } from './worker.js';

interface StateFile {
  version: 1;
  revoked: Array<[string, number]>;
  clock: number;
}

export class StateDb {
  private timer: NodeJS.Timeout | null = null;
  private open = false;

  constructor(
    private readonly worker: Worker,
    readonly path: string,
    private readonly debounceMs = 1000,
  ) {}

  /** Read the file (if any) into the worker. */
  load(): void {
    if (!existsSync(this.path)) {
      this.worker.logger.info(`statedb ${this.path} does not exist yet; it will be created`);
      this.open = true;
      return;
    }
    let data: Partial<StateFile>;
    try {
      data = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<StateFile>;
    } catch (err) {
      throw new ConfigurationError(`statedb ${this.path} is not a tq state file (${(err as Error).message}); move it away or pass another --statedb`);
    }
    const revoked = Array.isArray(data.revoked) ? data.revoked.filter((e): e is [string, number] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number') : [];
    this.worker.revoked.merge(revoked);
    if (typeof data.clock === 'number') this.worker.app.clock.adjust(data.clock);
    this.worker.logger.info(`statedb ${this.path}: ${this.worker.revoked.size} revoked id(s) restored`);
    this.open = true;
  }

  /** Revokes changed: write soon. */
  changed(): void {
    if (!this.open || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.save();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Write the file now, atomically. */
  save(): void {
    if (!this.open) return;
    const data: StateFile = { version: 1, revoked: this.worker.revoked.toJSON(), clock: this.worker.app.clock.forward() };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, JSON.stringify(data));
      renameSync(tmp, this.path);
    } catch (err) {
      this.worker.logger.error(`could not write the statedb ${this.path}: ${(err as Error).message}`);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.save();
    this.open = false;
  }
}

export function statedbStep(statedb: StateDb): Bootstep<Worker> {
  return { name: 'statedb', start: () => statedb.load(), stop: () => statedb.close() };
}
