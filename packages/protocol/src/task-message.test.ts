import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isTqError, ProtocolError } from './errors.js';
import type { RawMessage } from './message.js';
import { pyJsonDumps } from './python-json.js';
import { createTaskMessage, decodeTaskMessage, encodeTaskMessage } from './task-message.js';

/** celery-wire.md B1: `add.apply_async((2, 3), priority=5, expires=60, countdown=10)` captured on Redis. */
const CAPTURED = {
  body: 'W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d',
  'content-encoding': 'utf-8',
  'content-type': 'application/json',
  headers: {
    lang: 'py', task: 'proj.add', id: '11111111-2222-3333-4444-555555555555', shadow: null,
    eta: '2026-11-23T23:00:48.436499+00:00', expires: '2026-11-23T23:01:38.436499+00:00', group: null,
    group_index: null, retries: 0, timelimit: [null, null], root_id: '11111111-2222-3333-4444-555555555555',
    parent_id: null, argsrepr: '(2, 3)', kwargsrepr: '{}', origin: 'gen9208@vm', ignore_result: false,
  },
  properties: {
    correlation_id: '11111111-2222-3333-4444-555555555555', reply_to: '0d70f240-8e8c-38a3-854f-0145b880f845',
    delivery_mode: 2, expiration: '60000', delivery_info: { exchange: '', routing_key: 'celery' },
    priority: 5, body_encoding: 'base64', delivery_tag: 'b3b07f48-7e07-4b82-9a59-5f941dfff118',
  },
};

function capturedRaw(): RawMessage {
  return {
    body: new Uint8Array(Buffer.from(CAPTURED.body, 'base64')),
    contentType: CAPTURED['content-type'],
    contentEncoding: CAPTURED['content-encoding'],
    headers: structuredClone(CAPTURED.headers),
    properties: structuredClone(CAPTURED.properties) as RawMessage['properties'],
  };
}

function rawWith(headers: Record<string, unknown>, body: string, contentType = 'application/json'): RawMessage {
  return { body: new TextEncoder().encode(body), contentType, contentEncoding: 'utf-8', headers, properties: {} };
}

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(isTqError(err, 'PROTOCOL_ERROR')).toBe(true);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('the captured Celery message (test vector)', () => {
  it('decodes to the values Python sent', () => {
    const msg = decodeTaskMessage(capturedRaw());
    expect(msg.protocol).toBe(2);
    expect(msg.args).toEqual([2, 3]);
    expect(msg.kwargs).toEqual({});
    expect(msg.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(msg.headers.task).toBe('proj.add');
    expect(msg.headers.id).toBe('11111111-2222-3333-4444-555555555555');
    expect(msg.headers.eta).toBe('2026-11-23T23:00:48.436499+00:00');
    expect(msg.headers.timelimit).toEqual([null, null]);
    expect(msg.properties.priority).toBe(5);
  });

  it('is what tq encodes for the same call, byte for byte in body and header order', () => {
    const msg = createTaskMessage({
      id: '11111111-2222-3333-4444-555555555555',
      task: 'proj.add',
      args: [2, 3],
      eta: '2026-11-23T23:00:48.436499+00:00',
      expires: '2026-11-23T23:01:38.436499+00:00',
      origin: 'gen9208@vm',
      replyTo: '0d70f240-8e8c-38a3-854f-0145b880f845',
      priority: 5,
      expirationSeconds: 60,
    });
    const raw = encodeTaskMessage(msg);
    expect(Buffer.from(raw.body).toString('base64')).toBe(CAPTURED.body);
    // Celery 5.3+ appends three headers after ignore_result; the rest is identical, in order.
    const { replaced_task_nesting, stamped_headers, stamps, ...v52 } = raw.headers;
    expect([replaced_task_nesting, stamped_headers, stamps]).toEqual([0, null, {}]);
    expect(pyJsonDumps(v52)).toBe(pyJsonDumps(CAPTURED.headers));
    // kombu's Redis transport inserts delivery_info before priority and adds its own keys after it.
    const { delivery_info, body_encoding, delivery_tag, ...props } = CAPTURED.properties;
    const { priority, ...mine } = raw.properties;
    const { priority: capturedPriority, ...theirs } = props;
    expect(pyJsonDumps(mine)).toBe(pyJsonDumps(theirs));
    expect(priority).toBe(capturedPriority);
  });

  it('round-trips through encode and decode, compressed or not, json or msgpack', () => {
    const msg = createTaskMessage({
      id: 'abc', task: 'tasks.echo', args: [1, 'é', { nested: [true, null] }], kwargs: { when: new Date('2026-01-01T00:00:00Z') },
      callbacks: [{ task: 'tasks.log', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }],
      origin: 'gen1@host', timeLimit: 30, softTimeLimit: 25, headers: { tenant: 'acme' },
    });
    for (const serializer of ['json', 'msgpack'] as const) {
      for (const compression of [null, 'gzip', 'brotli']) {
        const back = decodeTaskMessage(encodeTaskMessage(msg, { serializer, compression }));
        expect(back.args).toEqual(msg.args);
        expect(back.kwargs).toEqual(msg.kwargs);
        expect(back.embed).toEqual(msg.embed);
        expect(back.headers.timelimit).toEqual([30, 25]);
        expect(back.headers['tenant']).toBe('acme');
        expect(Object.keys(back.headers).slice(0, 16)).toEqual([
          'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit',
          'root_id', 'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result',
        ]);
      }
    }
  });
});

describe('protocol v1 input', () => {
  it('is accepted and normalised to v2 fields', () => {
    const body = pyJsonDumps({
      id: 'v1-id', task: 'proj.add', args: [1, 2], kwargs: { z: 1 }, retries: 2, eta: null, expires: null, utc: true,
      callbacks: null, errbacks: null, timelimit: [10, 5], taskset: 'g1', chord: null,
    });
    const msg = decodeTaskMessage(rawWith({}, body));
    expect(msg.protocol).toBe(1);
    expect(msg.headers).toMatchObject({ id: 'v1-id', task: 'proj.add', retries: 2, group: 'g1', timelimit: [10, 5] });
    expect(msg.args).toEqual([1, 2]);
    expect(msg.kwargs).toEqual({ z: 1 });
  });
});

describe('validation: every bad message is a ProtocolError naming the field and the id', () => {
  const good = { lang: 'py', task: 'proj.add', id: 'm-1' };
  const body = '[[1], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]';

  it('a missing task id', () => {
    const err = protocolError(() => decodeTaskMessage(rawWith({ task: 'proj.add' }, body)));
    expect(err.field).toBe('headers.id');
  });

  it('a task name that is not a string', () => {
    const err = protocolError(() => decodeTaskMessage(rawWith({ task: 42, id: 'm-2' }, body)));
    expect(err.field).toBe('headers.task');
    expect(err.messageId).toBe('m-2');
    expect(err.message).toContain('m-2');
  });

  it('wrong field types', () => {
    expect(protocolError(() => decodeTaskMessage(rawWith({ ...good, retries: 'x' }, body))).field).toBe('headers.retries');
    expect(protocolError(() => decodeTaskMessage(rawWith({ ...good, eta: 'soon' }, body))).field).toBe('headers.eta');
    expect(protocolError(() => decodeTaskMessage(rawWith({ ...good, timelimit: [1] }, body))).field).toBe('headers.timelimit');
    expect(protocolError(() => decodeTaskMessage(rawWith(good, '[{"a": 1}, {}, null]'))).field).toBe('body[0]');
    expect(protocolError(() => decodeTaskMessage(rawWith(good, '[[], [], null]'))).field).toBe('body[1]');
    expect(protocolError(() => decodeTaskMessage(rawWith(good, '[[], {}, {"callbacks": [{"args": []}]}]'))).field).toBe(
      'body[2].callbacks[0].task',
    );
  });

  it('a body that does not decode', () => {
    const err = protocolError(() => decodeTaskMessage(rawWith(good, '[[1], {}, {')));
    expect(err.field).toBe('body');
    expect(err.messageId).toBe('m-1');
  });

  it('pickle and yaml are refused without being parsed', () => {
    const pickled = protocolError(() => decodeTaskMessage(rawWith(good, '\x80\x04K\x01.', 'application/x-python-serialize')));
    expect(pickled.message).toMatch(/pickle/);
    expect(pickled.field).toBe('content-type');
    expect(protocolError(() => decodeTaskMessage(rawWith(good, '!!python/object', 'application/x-yaml'))).message).toMatch(/yaml/);
  });

  it('an unknown content type or compression', () => {
    expect(protocolError(() => decodeTaskMessage(rawWith(good, body, 'text/csv'))).field).toBe('content-type');
    const err = protocolError(() => decodeTaskMessage(rawWith({ ...good, compression: 'application/x-bz2' }, body)));
    expect(err.message).toMatch(/bzip2/);
    const bad = rawWith({ ...good, compression: 'application/x-gzip' }, body);
    bad.body = gzipSync(Buffer.from('garbage')).subarray(3);
    expect(protocolError(() => decodeTaskMessage(bad)).field).toBe('body');
  });
});
