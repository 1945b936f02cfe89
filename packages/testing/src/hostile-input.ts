/**
 * Hostile input, pushed straight into a real broker's queue past tq's client: every kind of
 * message a worker must refuse (bytes that are no message, the wrong shapes and types, pickle and
 * YAML, a compression bomb, a 100 MB body, deep nesting, a 10 KB id, invalid UTF-8, impossible
 * ETAs, a past `expires`, absurd `retries`). Each broker's test file runs `runHostileInputSuite`
 * with its own raw `push`: each message must be refused with a log line naming the reason and
 * the message, nothing may run, the worker must stay up with bounded memory, and the next valid
 * task must run.
 */
import { randomBytes } from 'node:crypto';
import { createDeflate } from 'node:zlib';
import { createApp, type App, type AppConfig } from '@tq/core';
import { pyJsonDumps, type RawMessage } from '@tq/protocol';
import { Worker } from '@tq/worker';
import { expect, it } from 'vitest';
import { recordingLogger } from './logger.js';
import { uniqueName, waitFor } from './wait.js';

export interface HostileCase {
  name: string;
  /** The id (or its first characters) the log line must name. */
  id: string;
  message: RawMessage;
  /** What the log line must say about the reason. */
  reason: RegExp;
}

const TASK = 'hostile.ran';
const VALID_EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

function headersFor(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    lang: 'py', task: TASK, id, shadow: null, eta: null, expires: null, group: null, group_index: null, retries: 0,
    timelimit: [null, null], root_id: id, parent_id: null, argsrepr: '()', kwargsrepr: '{}', origin: 'hostile@test', ignore_result: false,
    ...extra,
  };
}

function message(id: string, body: Uint8Array | string, options: { headers?: Record<string, unknown>; contentType?: string; contentEncoding?: string } = {}): RawMessage {
  return {
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    contentType: options.contentType ?? 'application/json',
    contentEncoding: options.contentEncoding ?? 'utf-8',
    headers: options.headers ?? headersFor(id),
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
  };
}

const VALID_BODY = pyJsonDumps([[1], {}, VALID_EMBED]);

/** `mib` MiB of zeros (1 GiB by default) deflated (kombu's `application/x-gzip` is zlib's format) to about 1 KB per MiB. */
async function compressionBomb(mib = 1024): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve));
  deflate.end();
  await new Promise((resolve) => deflate.on('end', resolve));
  return Buffer.concat(chunks);
}

/** A wrong-typed value for every header a v2 message has (and the optional ones tq reads). */
const WRONG_HEADER_VALUES: Record<string, unknown> = {
  lang: 7, task: ['hostile.ran'], id: 12345, shadow: 1, eta: 1700000000, expires: { when: 'soon' }, group: 3, group_index: 'first',
  retries: 'many', timelimit: 'forever', root_id: [], parent_id: {}, argsrepr: 1, kwargsrepr: [], origin: false, ignore_result: 'yes',
  stamped_headers: 'all', stamps: 'x', replaced_task_nesting: 'deep', compression: 9,
};

/**
 * Every hostile message, each with its own id. `bombMiB`: what the compression bomb inflates to
 * (default 1 GiB, about 1 MB on the wire; smaller for a broker that carries less, such as SQS).
 */
export async function hostileCases(options: { bombMiB?: number } = {}): Promise<HostileCase[]> {
  const cases: HostileCase[] = [];
  const add = (name: string, build: (id: string) => RawMessage, reason: RegExp) => {
    const id = `hostile-${name}-${Math.random().toString(36).slice(2, 8)}`;
    cases.push({ name, id, message: build(id), reason });
  };
  add('random-bytes-json', (id) => message(id, randomBytes(4096)), /not valid UTF-8|not valid JSON/);
  add('random-bytes-msgpack', (id) => message(id, Buffer.concat([Buffer.from([0xc1]), randomBytes(4096)]), { contentType: 'application/x-msgpack', contentEncoding: 'binary' }), /not valid msgpack|body must be/);
  add('invalid-json', (id) => message(id, '[[1], {}, {"callbacks": nul'), /not valid JSON/);
  add('json-wrong-shape-mapping', (id) => message(id, '{"args": [1], "kwargs": {}}'), /body must be \[args, kwargs, embed\]/);
  add('json-wrong-shape-args', (id) => message(id, '["1", {}, null]'), /args must be a list/);
  add('json-wrong-shape-embed', (id) => message(id, '[[1], {}, {"callbacks": "rm -rf /"}]'), /callbacks.*list of signatures/);
  for (const [field, value] of Object.entries(WRONG_HEADER_VALUES)) {
    add(`header-${field}`, (id) => message(id, VALID_BODY, { headers: headersFor(id, { [field]: value }) }), new RegExp(`field headers\\.${field}`));
  }
  add('unknown-task', (id) => message(id, VALID_BODY, { headers: headersFor(id, { task: 'hostile.not_registered' }) }), /not registered/);
  add('pickle', (id) => message(id, Buffer.from('80049502000000000000007d942e', 'hex'), { contentType: 'application/x-python-serialize', contentEncoding: 'binary' }), /pickle.*refused/);
  add('yaml', (id) => message(id, '!!python/object/apply:os.system ["echo pwned"]', { contentType: 'application/x-yaml' }), /yaml.*refused/);
  const bomb = await compressionBomb(options.bombMiB);
  add('gzip-bomb', (id) => message(id, bomb, { headers: headersFor(id, { compression: 'application/x-gzip' }) }), /inflates to more than/);
  add('body-100mb', (id) => message(id, `[["${'x'.repeat(100 * 1024 * 1024)}"], {}, null]`), /above the limit/);
  add('nested-100000', (id) => message(id, `[${'['.repeat(100_000)}${']'.repeat(100_000)}, {}, null]`), /nested more than 1000 levels/);
  add('id-10kb', (id) => message(id, VALID_BODY, { headers: headersFor(id + 'x'.repeat(10 * 1024)) }), /characters long, above the limit/);
  add('non-utf8', (id) => message(id, Buffer.concat([Buffer.from('[["'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"], {}, null]')])), /not valid UTF-8/);
  add('eta-negative', (id) => message(id, VALID_BODY, { headers: headersFor(id, { eta: '-0001-01-01T00:00:00' }) }), /field headers\.eta.*not an ISO-8601 date/);
  add('eta-huge', (id) => message(id, VALID_BODY, { headers: headersFor(id, { eta: '275760-09-14T00:00:00+00:00' }) }), /field headers\.eta.*not an ISO-8601 date/);
  add('expires-past', (id) => message(id, VALID_BODY, { headers: headersFor(id, { expires: '2001-01-01T00:00:00+00:00' }) }), /Discarding expired task/);
  add('retries-1e9', (id) => message(id, VALID_BODY, { headers: headersFor(id, { retries: 1e9 }) }), /retries is 1000000000, above the limit/);
  return cases;
}

export interface HostileInputSuiteOptions {
  /** The app's broker settings for the test's queue (the suite adds a recording logger and the task). */
  appConfig: (queue: string) => AppConfig;
  /** Put a message into the queue as a foreign client would, bypassing tq's encoder. */
  push: (app: App, queue: string, message: RawMessage) => Promise<void>;
  /** Extra messages of the broker's own (e.g. bytes that are no envelope): each must be logged with `reason`. */
  extra?: Array<{ name: string; push: (app: App, queue: string) => Promise<void>; reason: RegExp }>;
  /** Checks of the broker's own once every message was handled; `rejected`: how many the worker rejected (dead-letter count). */
  verify?: (app: App, queue: string, rejected: number) => Promise<void>;
  /** Clean up the queue after the test. */
  cleanup?: (queue: string) => Promise<void>;
  /** Bound on the growth of the test process's resident memory (the worker runs in it), in bytes (default 1.5 GiB). */
  maxRssGrowth?: number;
  /**
   * For a broker with a message size limit of its own (SQS: 1 MiB): a `push` that throws an error
   * matching this was refused by the broker before any worker saw it, and the case is left out
   * of the worker's checks (and reported). Without it, a `push` that throws fails the test.
   */
  brokerRefuses?: RegExp;
  /** What the compression bomb inflates to, in MiB (see hostileCases). */
  bombMiB?: number;
}

/** One test: every hostile case into one queue, then a valid task. */
export function runHostileInputSuite(options: HostileInputSuiteOptions): void {
  it('refuses every hostile message with a logged reason and id, runs none, stays up with bounded memory, and runs the next valid task', async () => {
    const queue = uniqueName('tq-hostile');
    const logger = recordingLogger();
    const app = createApp({ ...options.appConfig(queue), logger, taskDefaultQueue: queue });
    const ran: unknown[] = [];
    app.task({ name: TASK }, (...args: unknown[]) => void ran.push(args));
    const worker = new Worker(app, { queues: [queue], concurrency: 2, logger, mingle: false, hostname: `${queue}@%h` });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      await worker.start();
      const cases = await hostileCases({ ...(options.bombMiB === undefined ? {} : { bombMiB: options.bombMiB }) });
      const refusedByBroker: string[] = [];
      for (const hostile of cases) {
        try {
          await options.push(app, queue, hostile.message);
        } catch (err) {
          if (!options.brokerRefuses?.test((err as Error).message)) throw err;
          refusedByBroker.push(hostile.name);
        }
      }
      for (const extra of options.extra ?? []) await extra.push(app, queue);
      // Drop the test's own references to the big bodies: what remains is the worker's doing.
      const expected = cases.filter((c) => !refusedByBroker.includes(c.name)).map(({ name, id, reason }) => ({ name, id: id.slice(0, 36), reason }));
      cases.length = 0;
      await app.sendTask(TASK, ['valid']);
      await waitFor(() => ran.some((args) => (args as unknown[])[0] === 'valid'), { timeout: 120_000, message: 'the valid task after the hostile ones to run' });
      const missing = () => expected.filter(({ id, reason }) => !logger.lines.some((line) => line.message.includes(id) && reason.test(line.message)));
      await waitFor(() => missing().length === 0, { timeout: 30_000, message: `a log line naming the reason and id of: ${missing().map((c) => c.name).join(', ')}` });
      for (const extra of options.extra ?? []) expect(logger.lines.some((line) => extra.reason.test(line.message)), extra.name).toBe(true);
      expect(ran).toEqual([['valid']]);
      // An expired task is settled as REVOKED (acknowledged); every other one is rejected.
      await options.verify?.(app, queue, expected.filter((c) => c.name !== 'expires-past').length);
      expect(worker.state).toBe('running');
      const growth = peak - baseline;
      if (refusedByBroker.length > 0) console.log(`[hostile] refused by the broker itself, never delivered: ${refusedByBroker.join(', ')}`);
      console.log(`[hostile] ${expected.length + (options.extra?.length ?? 0)} hostile messages refused; peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (+${(growth / 2 ** 20).toFixed(0)} MiB over the ${(baseline / 2 ** 20).toFixed(0)} MiB baseline)`);
      expect(growth).toBeLessThan(options.maxRssGrowth ?? 1.5 * 2 ** 30);
    } finally {
      clearInterval(sampler);
      await worker.stop({ timeout: 5 });
      await app.close();
      await options.cleanup?.(queue);
    }
  }, 240_000);
}
