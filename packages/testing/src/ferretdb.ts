/**
 * A FerretDB v1 (SQLite) of a test's own on a free loopback port, started the way
 * scripts/services.sh starts the shared one, for tests that stop and restart their MongoDB
 * server. `stop()` really ends the process and keeps its files; `start()` again brings the same
 * data back. No vitest here, so `npm run chaos` can use it outside a test run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

export interface PrivateFerretDBOptions {
  /** The port (default: a free one, chosen at the first start). */
  port?: number;
  /** The data directory (default: a new temporary one, removed by `close()`). */
  dir?: string;
  /** The database the `url` names (default `test`). */
  database?: string;
}

export class PrivateFerretDB {
  port: number;
  readonly dir: string;
  private readonly ownsDir: boolean;
  private readonly database: string;
  private child: ChildProcess | null = null;

  constructor(options: PrivateFerretDBOptions = {}) {
    this.port = options.port ?? 0;
    this.ownsDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tq-ferretdb-'));
    this.database = options.database ?? 'test';
  }

  /** The ferretdb binary: TQ_FERRETDB_BIN, or where `go install` put it. */
  static binary(): string {
    if (process.env['TQ_FERRETDB_BIN']) return process.env['TQ_FERRETDB_BIN'];
    const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).stdout?.trim();
    return join(gopath || join(process.env['HOME'] ?? '/root', 'go'), 'bin', 'ferretdb');
  }

  get url(): string {
    return `mongodb://127.0.0.1:${this.port}/${this.database}`;
  }

  /** Start it and wait until it answers a ping (30 s at most). */
  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.child = spawn(
      PrivateFerretDB.binary(),
      ['--handler=sqlite', `--sqlite-url=file:${this.dir}/`, `--listen-addr=127.0.0.1:${this.port}`, `--state-dir=${this.dir}`, '--telemetry=disable', '--debug-addr=-', '--log-level=error'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 30_000;
    while (!(await this.answers())) {
      if (this.child.exitCode !== null) throw new Error(`FerretDB on port ${this.port} exited with ${this.child.exitCode} (binary ${PrivateFerretDB.binary()})`);
      if (Date.now() > deadline) throw new Error(`FerretDB on port ${this.port} did not answer within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async answers(): Promise<boolean> {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(`mongodb://127.0.0.1:${this.port}`, { serverSelectionTimeoutMS: 500 });
    try {
      await client.db('admin').command({ ping: 1 });
      return true;
    } catch {
      return false;
    } finally {
      await client.close();
    }
  }

  /** SIGTERM, and wait for the process to be gone (its files stay). */
  stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    return new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** Stop it and remove the data directory it made. */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
