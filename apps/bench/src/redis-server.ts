/**
 * A Redis server of the benchmark's own (`redis-server --port <free> --save ''`), so that
 * `INFO commandstats` and `INFO cpu` count only the benchmark's commands, not those of other
 * people using the shared server; and the commands/CPU counters read around a measured phase.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface OwnRedis {
  url: string;
  version: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Start `redis-server` on a free port; null when it is not installed. */
export async function startOwnRedis(binary = process.env['TQ_REDIS_SERVER'] ?? 'redis-server'): Promise<OwnRedis | null> {
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--databases', '4'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const failed = new Promise<null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('exit', () => resolve(null));
  });
  const url = `redis://127.0.0.1:${port}/0`;
  const ready = (async () => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const info = await client.info('server');
        client.disconnect();
        return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
      } catch {
        client.disconnect();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return null;
  })();
  const version = await Promise.race([ready, failed]);
  if (version === null) {
    child.kill('SIGKILL');
    return null;
  }
  return {
    url,
    version,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Fail at once, with what to do, when no Redis answers at `url`: ioredis would otherwise retry
 * for ever and a suite would wait silently until its caller gave up.
 */
export async function requireRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`no Redis answers at ${url} (${(err as Error).message}), and no redis-server could be started for the benchmark: run \`bash scripts/services.sh up redis\` (or set TQ_BENCH_REDIS_URL / TQ_REDIS_URL)`);
  } finally {
    client.disconnect();
  }
}

export interface ServerCounters {
  /** Commands the server ran (`INFO commandstats` calls; commands run inside scripts included). */
  commands: number;
  /** EVAL/EVALSHA/FCALL calls among them. */
  scripts: number;
  /** MULTI transactions among them. */
  multis: number;
  /** Server CPU (user + system), µs. */
  cpuUs: number;
}

/** Read the server's counters (the INFO calls themselves are left out). */
export async function serverCounters(client: Redis): Promise<ServerCounters> {
  const [stats, cpu] = await Promise.all([client.info('commandstats'), client.info('cpu')]);
  let commands = 0;
  let scripts = 0;
  let multis = 0;
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = m[1]!;
    const calls = Number(m[2]);
    if (name === 'info' || name.startsWith('client') || name.startsWith('config') || name === 'ping') continue;
    commands += calls;
    if (name === 'eval' || name === 'evalsha' || name.startsWith('fcall')) scripts += calls;
    if (name === 'multi') multis += calls;
  }
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  return { commands, scripts, multis, cpuUs: (user + sys) * 1e6 };
}

export function counterDelta(before: ServerCounters, after: ServerCounters): ServerCounters {
  return {
    commands: after.commands - before.commands,
    scripts: after.scripts - before.scripts,
    multis: after.multis - before.multis,
    cpuUs: after.cpuUs - before.cpuUs,
  };
}
