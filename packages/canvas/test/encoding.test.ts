/**
 * Wire identity with Celery: the JSON of every primitive, and the messages a workflow sends,
 * compared field for field (and key for key) with what real Celery 5.2.6 produces.
 *
 * The expected values are `fixtures/celery-5.2.6.json`, produced by
 * `/usr/bin/python3 test/fixtures/celery_canvas.py > test/fixtures/celery-5.2.6.json`
 * (Debian's python3-celery 5.2.6): `json.dumps(sig)` of the same workflows built with Celery's
 * canvas, and the messages Celery published for them on a Redis broker (db 5, its own), decoded. Task
 * ids are random on both sides, so every UUID is replaced by its order of first appearance
 * before comparing (`<id0>`, `<id1>`, …): ids that are equal in Celery must be equal in tq.
 */
import { readFileSync } from 'node:fs';
import { createApp, silentLogger, type App, type AppConfig } from '@tq/core';
import { NoChordCounterMemoryBackend } from '@tq/testing';
import { deserialize, type RawMessage } from '@tq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { canvas, chain, chord, group, chunks, type AnySignature } from '../src/index.js';

interface Captured {
  headers: Record<string, unknown>;
  body: unknown;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/celery-5.2.6.json', import.meta.url), 'utf8')) as {
  celery: string;
  signatures: Record<string, unknown>;
  messages: Record<string, Captured[]>;
};

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** The JSON text with every UUID replaced by its order of first appearance. */
function normalized(value: unknown): string {
  const ids = new Map<string, string>();
  return JSON.stringify(value).replace(UUID, (id) => {
    if (!ids.has(id)) ids.set(id, `<id${ids.size}>`);
    return ids.get(id)!;
  });
}

/** Same fields, same values, same key order, same id relations. */
function expectSameJson(actual: unknown, expected: unknown): void {
  const a = normalized(actual);
  const e = normalized(expected);
  expect(JSON.parse(a)).toEqual(JSON.parse(e));
  expect(a).toBe(e);
}

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

function tasks(config: AppConfig = {}) {
  const app = createApp({ main: 'proj', logger: silentLogger, ...config });
  apps.push(app);
  // Installed as every worker and every canvas function does; needed here for task.map/chunks.
  app.use(canvas);
  const add = app.task('proj.add', (x: number, y: number) => x + y);
  const xsum = app.task('proj.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
  const onError = app.task('proj.on_error', (taskId: string) => taskId);
  return { app, add, xsum, onError };
}

/** What the default queue holds now: routing headers and the decoded body, as the fixture records them. */
async function published(app: App, count: number): Promise<Captured[]> {
  const broker = await app.getBroker();
  expect(await broker.queueLength!('celery')).toBe(count);
  const raws: RawMessage[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const consumer = await broker.consume([app.router.queue('celery')], (delivery) => {
    raws.push(delivery.message);
    void delivery.ack();
    if (raws.length === count) done();
  }, { prefetch: 0 });
  await all;
  await consumer.cancel();
  return raws.map((raw) => {
    const h = raw.headers;
    return {
      headers: { task: h['task'], id: h['id'], group: h['group'], group_index: h['group_index'], root_id: h['root_id'], parent_id: h['parent_id'] },
      body: deserialize(raw.body, raw.contentType),
    };
  });
}

describe(`signature JSON matches Celery ${fixture.celery}`, () => {
  const cases: Record<string, () => AnySignature> = {
    signature: () => tasks().add.s(1, 2),
    signature_options: () => tasks().add.s(2).set({ countdown: 10, queue: 'math', priority: 5 }),
    immutable: () => tasks().add.si(1, 2),
    link: () => {
      const { add, onError } = tasks();
      const sig = add.s(1, 2);
      sig.link(add.s(10));
      sig.linkError(onError.s());
      return sig;
    },
    chain: () => {
      const { add } = tasks();
      return chain(add.s(1, 2), add.s(3), add.s(4));
    },
    pipe: () => {
      const { add } = tasks();
      return add.s(1, 2).pipe(add.s(3));
    },
    pipe_chain: () => {
      const { add } = tasks();
      return add.s(1, 2).pipe(chain(add.s(3), add.s(4)));
    },
    chain_single: () => chain(tasks().add.s(1, 2)),
    chain_immutable: () => {
      const { add } = tasks();
      return chain(add.s(1, 2), add.si(5, 5), add.s(1));
    },
    group: () => {
      const { add } = tasks();
      return group([add.s(1, 1), add.s(2, 2)]);
    },
    group_args: () => {
      const { add } = tasks();
      return group(add.s(1, 1), add.s(2, 2));
    },
    chord: () => {
      const { add, xsum } = tasks();
      return chord([add.s(1, 1), add.s(2, 2)], xsum.s());
    },
    group_pipe_task: () => {
      const { add, xsum } = tasks();
      return group(add.s(1, 1), add.s(2, 2)).pipe(xsum.s());
    },
    chain_group_middle: () => {
      const { add, xsum } = tasks();
      return chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s(), add.s(5));
    },
    chain_group_last: () => {
      const { add } = tasks();
      return chain(add.s(1, 1), group(add.s(1), add.s(2)));
    },
    chord_pipe_task: () => {
      const { add, xsum } = tasks();
      return chord([add.s(1, 1), add.s(2, 2)], xsum.s()).pipe(add.s(10));
    },
    chord_of_chains: () => {
      const { add, xsum } = tasks();
      return chord([chain(add.s(1, 1), add.s(1)), chain(add.s(2, 2), add.s(2))], xsum.s());
    },
    group_of_chains: () => {
      const { add } = tasks();
      return group([add.s(1, 1).pipe(add.s(1)), add.s(2, 2).pipe(add.s(2))]);
    },
    chain_of_chords: () => {
      const { add, xsum } = tasks();
      return chain(chord([add.s(1, 1), add.s(2, 2)], xsum.s()), chord([add.s(1), add.s(2)], xsum.s()));
    },
    chord_of_chords: () => {
      const { add, xsum } = tasks();
      return chord([chord([add.s(1, 1), add.s(2, 2)], xsum.s()), add.s(3, 3)], xsum.s());
    },
    map: () => tasks().add.map([1, 2, 3]),
    starmap: () => tasks().add.starmap([[1, 2], [3, 4]]),
    chunks: () => tasks().add.chunks([[1, 2], [3, 4], [5, 6]], 2),
    chunks_group: () => chunks(tasks().add, [[1, 2], [3, 4], [5, 6]], 2).group(),
    chain_frozen: () => {
      const { add } = tasks();
      const c = chain(add.s(1, 2), add.s(3), add.s(4));
      c.freeze();
      return c;
    },
    group_frozen: () => {
      const { add } = tasks();
      const g = group([add.s(1, 1), add.s(2, 2)]);
      g.freeze();
      return g;
    },
    chord_frozen: () => {
      const { add, xsum } = tasks();
      const c = chord([add.s(1, 1), add.s(2, 2)], xsum.s());
      c.freeze();
      return c;
    },
  };

  it('covers every case the fixture has', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(fixture.signatures).sort());
  });

  for (const [name, build] of Object.entries(cases)) {
    it(name, () => {
      const sig = build();
      // toJSON is what JSON.stringify (and so every message) uses; toDict is the same dict.
      expectSameJson(JSON.parse(JSON.stringify(sig)), fixture.signatures[name]);
      expectSameJson(sig.toDict(), fixture.signatures[name]);
    });
  }

  it('rebuilds every Celery dict with its kind and writes it back unchanged', () => {
    const { app } = tasks();
    for (const [name, dict] of Object.entries(fixture.signatures)) {
      const sig = app.signature(structuredClone(dict) as Parameters<App['signature']>[0]);
      expect(normalized(sig.toDict()), name).toBe(normalized(dict));
    }
  });
});

describe(`published messages match what Celery ${fixture.celery} sends`, () => {
  it('chain: the first message carries the other steps, reversed, with their ids fixed', async () => {
    const { app, add } = tasks();
    await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync();
    expectSameJson(await published(app, 1), fixture.messages['chain']);
  });

  it('chain with an errback: every step carries it', async () => {
    const { app, add, onError } = tasks();
    const c = chain(add.s(1, 2), add.s(3));
    c.linkError(onError.s());
    await c.applyAsync();
    expectSameJson(await published(app, 1), fixture.messages['chain_link_error']);
  });

  it('group: every member has the group id (and, as Celery 5.3+, its index)', async () => {
    const { app, add } = tasks();
    await group([add.s(1, 1), add.s(2, 2)]).applyAsync();
    // Celery 5.2.6 leaves group_index null for a plain group; Celery 5.3 and later (and tq) set
    // it to the member's position, as they always did for chord headers.
    const expected = structuredClone(fixture.messages['group']!);
    expected.forEach((m, i) => (m.headers['group_index'] = i));
    expectSameJson(await published(app, 2), expected);
  });

  it('chord: header members carry the body in embed.chord, with group and group_index', async () => {
    const { app, add, xsum } = tasks();
    await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync();
    expectSameJson(await published(app, 2), fixture.messages['chord']);
  });

  it('a group in the middle of a chain becomes a chord in the embed chain', async () => {
    const { app, add, xsum } = tasks();
    await chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s(), add.s(5)).applyAsync();
    expectSameJson(await published(app, 1), fixture.messages['chain_group_middle']);
  });

  it('chord of chains: the last step of each chain reports to the chord', async () => {
    const { app, add, xsum } = tasks();
    await chord([chain(add.s(1, 1), add.s(1)), chain(add.s(2, 2), add.s(2))], xsum.s()).applyAsync();
    expectSameJson(await published(app, 2), fixture.messages['chord_of_chains']);
  });

  it('chord without a chord counter: celery.chord_unlock(group_id, body, interval, max_retries, result) first', async () => {
    // No delay before the first poll here, so that the message is in the queue at once (Celery
    // waits 1 s; the eta header is not compared).
    const { app, add, xsum } = tasks({ backend: new NoChordCounterMemoryBackend(), resultChordRetryInterval: 0 });
    await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync();
    expectSameJson(await published(app, 3), fixture.messages['chord_unlock']);
  });

  it('map: one celery.map message with kwargs {task, it}', async () => {
    const { app, add } = tasks();
    await add.map([1, 2, 3]).applyAsync();
    expectSameJson(await published(app, 1), fixture.messages['map']);
  });

  it('chunks: a group of celery.starmap messages', async () => {
    const { app, add } = tasks();
    await add.chunks([[1, 2], [3, 4], [5, 6]], 2).applyAsync();
    const expected = structuredClone(fixture.messages['chunks']!);
    expected.forEach((m, i) => (m.headers['group_index'] = i)); // as for groups, above
    expectSameJson(await published(app, 2), expected);
  });
});
