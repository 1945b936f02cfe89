import { createTaskMessage, decodeTaskMessage, encodeTaskMessage, type RawMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, envelopePriority, markRedelivered } from './envelope.js';

/** Captured from Python Celery 5.2.6 on Redis (celery-wire.md B1): `apply_async((2,3), priority=5, expires=60, countdown=10)`. */
const CAPTURED =
  '{"body": "W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", ' +
  '"content-encoding": "utf-8", "content-type": "application/json", ' +
  '"headers": {"lang": "py", "task": "proj.add", "id": "11111111-2222-3333-4444-555555555555", "shadow": null, ' +
  '"eta": "2026-11-23T23:00:48.436499+00:00", "expires": "2026-11-23T23:01:38.436499+00:00", "group": null, ' +
  '"group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "11111111-2222-3333-4444-555555555555", ' +
  '"parent_id": null, "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen9208@vm", "ignore_result": false}, ' +
  '"properties": {"correlation_id": "11111111-2222-3333-4444-555555555555", "reply_to": "0d70f240-8e8c-38a3-854f-0145b880f845", ' +
  '"delivery_mode": 2, "expiration": "60000", "delivery_info": {"exchange": "", "routing_key": "celery"}, ' +
  '"priority": 5, "body_encoding": "base64", "delivery_tag": "b3b07f48-7e07-4b82-9a59-5f941dfff118"}}';

const TAG = 'b3b07f48-7e07-4b82-9a59-5f941dfff118';
const ID = '11111111-2222-3333-4444-555555555555';

describe('kombu Redis envelope', () => {
  it('decodes the captured Celery envelope', () => {
    const env = decodeEnvelope(CAPTURED);
    expect(env.tag).toBe(TAG);
    expect(env.exchange).toBe('');
    expect(env.routingKey).toBe('celery');
    expect(env.priority).toBe(5);
    expect(env.redelivered).toBe(false);
    expect(Buffer.from(env.message.body).toString()).toBe('[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    expect(env.message.properties).toEqual({ correlation_id: ID, reply_to: '0d70f240-8e8c-38a3-854f-0145b880f845', delivery_mode: 2, expiration: '60000', priority: 5 });
    const task = decodeTaskMessage(env.message);
    expect(task.headers.task).toBe('proj.add');
    expect(task.args).toEqual([2, 3]);
    expect(task.headers.eta).toBe('2026-11-23T23:00:48.436499+00:00');
  });

  it('re-encodes the captured message byte for byte', () => {
    const env = decodeEnvelope(CAPTURED);
    expect(encodeEnvelope(env.message, env.exchange, env.routingKey, TAG)).toBe(CAPTURED);
  });

  it('encodes a tq task message exactly as Celery 5.2 does (apart from the 5.3+ headers)', () => {
    const message = createTaskMessage({
      id: ID,
      task: 'proj.add',
      args: [2, 3],
      eta: '2026-11-23T23:00:48.436499+00:00',
      expires: '2026-11-23T23:01:38.436499+00:00',
      origin: 'gen9208@vm',
      replyTo: '0d70f240-8e8c-38a3-854f-0145b880f845',
      priority: 5,
      expirationSeconds: 60,
    });
    for (const key of ['replaced_task_nesting', 'stamped_headers', 'stamps']) delete message.headers[key];
    const raw = encodeTaskMessage(message);
    expect(encodeEnvelope(raw, '', 'celery', TAG)).toBe(CAPTURED);
  });

  it('writes priority 0 and delivery_mode 2 when the message has none, and keeps custom properties first', () => {
    const raw: RawMessage = { body: Buffer.from('{}'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, properties: { MessageGroupId: 'g', delivery_tag: 'ignored' } };
    expect(encodeEnvelope(raw, 'x', 'rk', 't')).toBe(
      '{"body": "e30=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {}, ' +
        '"properties": {"MessageGroupId": "g", "delivery_mode": 2, "delivery_info": {"exchange": "x", "routing_key": "rk"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "t"}}',
    );
  });

  it('escapes non-ASCII text as Python does, wherever it is', () => {
    const raw: RawMessage = {
      body: Buffer.from('"é"'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { who: 'é', 'clé ✓': ['😀', 'del \u007f'] },
      properties: { note: 'ü' },
    };
    const text = encodeEnvelope(raw, 'échange', 'file-é', 't');
    expect(text).toContain('"headers": {"who": "\\u00e9", "cl\\u00e9 \\u2713": ["\\ud83d\\ude00", "del \\u007f"]}');
    expect(text).toContain('"properties": {"note": "\\u00fc", ');
    expect(text).toContain('"delivery_info": {"exchange": "\\u00e9change", "routing_key": "file-\\u00e9"}');
    expect(/[^\x20-\x7e]/.test(text)).toBe(false);
    expect(decodeEnvelope(text).message.headers).toEqual(raw.headers);
  });

  it('marks a restored envelope as redelivered, as kombu does', () => {
    const again = markRedelivered(CAPTURED);
    const env = decodeEnvelope(again);
    expect(env.redelivered).toBe(true);
    expect(env.message.headers['redelivered']).toBe(true);
    expect(again).toContain('"ignore_result": false, "redelivered": true}');
    expect(again).toContain('"delivery_info": {"exchange": "", "routing_key": "celery", "redelivered": true}');
    expect(markRedelivered('not json')).toBe('not json');
  });

  it('refuses what is not an envelope, saying why', () => {
    expect(() => decodeEnvelope('{"oops')).toThrow(/not a kombu Redis envelope: invalid JSON/);
    expect(() => decodeEnvelope('[1, 2]')).toThrow(/expected a JSON object, got a list/);
    expect(() => decodeEnvelope('{"body": 5}')).toThrow(/body is not a string/);
    expect(() => decodeEnvelope('{"body": "", "headers": []}')).toThrow(/headers is not a mapping/);
  });

  it('reads a body that is not base64-encoded as text', () => {
    const env = decodeEnvelope('{"body": "[1]", "content-type": "application/json", "properties": {}}');
    expect(Buffer.from(env.message.body).toString()).toBe('[1]');
  });

  it('clamps priorities to 0..9 as kombu', () => {
    expect(envelopePriority({ priority: 12 })).toBe(9);
    expect(envelopePriority({ priority: -3 })).toBe(0);
    expect(envelopePriority({ priority: null })).toBe(0);
    expect(envelopePriority({ priority: '5' })).toBe(5);
  });
});
