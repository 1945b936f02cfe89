import { describe, expect, it } from 'vitest';
import { createControlRequest, decodeControlReply, decodeControlRequest, encodeControlReply, encodeControlRequest } from './control.js';
import { createEvent, decodeEventMessage, encodeEventMessage, eventRoutingKey, utcoffset } from './events.js';
import { pyJsonDumps } from './python-json.js';

describe('events', () => {
  it("are built in Celery's field order (captured task-succeeded)", () => {
    const event = createEvent(
      'task-succeeded',
      { hostname: 'w1@vm', pid: 9728, clock: 6, utcoffset: 0 },
      { uuid: '1111', result: '5', runtime: 0.0243 },
      1795474849.3870776,
    );
    expect(pyJsonDumps(event)).toBe(
      '{"hostname": "w1@vm", "utcoffset": 0, "pid": 9728, "clock": 6, "uuid": "1111", "result": "5", "runtime": 0.0243, "timestamp": 1795474849.3870776, "type": "task-succeeded"}',
    );
  });

  it('use dotted routing keys and hours west of UTC', () => {
    expect(eventRoutingKey('worker-heartbeat')).toBe('worker.heartbeat');
    expect(utcoffset(new Date())).toBe(Math.floor(new Date().getTimezoneOffset() / 60));
  });

  it('travel one at a time or batched as a list', () => {
    const a = createEvent('task-started', { hostname: 'h', pid: 1, clock: 1 }, { uuid: 'a' });
    const b = createEvent('task-succeeded', { hostname: 'h', pid: 1, clock: 2 }, { uuid: 'a', result: '1', runtime: 0.1 });
    expect(decodeEventMessage(encodeEventMessage(a, 'h'))).toEqual([a]);
    const batch = encodeEventMessage([a, b], 'h');
    expect(batch.headers).toEqual({ hostname: 'h' });
    expect(batch.properties.delivery_mode).toBe(1);
    expect(decodeEventMessage(batch)).toEqual([a, b]);
    expect(() => decodeEventMessage({ ...batch, body: new TextEncoder().encode('[1]') })).toThrow(/mapping with a type/);
  });
});

describe('remote control', () => {
  it("builds the captured revoke request with kombu's keys", () => {
    const request = createControlRequest({
      method: 'revoke',
      arguments: { task_id: 'slow-1111', terminate: true, signal: 'SIGKILL' },
      ticket: 'aabda74f',
      replyTo: 'oid-1',
    });
    expect(pyJsonDumps(request)).toBe(
      '{"method": "revoke", "arguments": {"task_id": "slow-1111", "terminate": true, "signal": "SIGKILL"}, ' +
        '"destination": null, "pattern": null, "matcher": null, "ticket": "aabda74f", ' +
        '"reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "oid-1"}}',
    );
    const decoded = decodeControlRequest(encodeControlRequest(request, 7, 1234.5));
    expect(decoded).toEqual({ request, clock: 7, expires: 1234.5 });
  });

  it('omits ticket and reply_to when no reply is wanted, and validates destinations', () => {
    const request = createControlRequest({ method: 'enable_events', destination: ['w1@vm'] });
    expect(Object.keys(request)).toEqual(['method', 'arguments', 'destination', 'pattern', 'matcher']);
    const raw = encodeControlRequest(request, 1, 0);
    raw.body = new TextEncoder().encode('{"method": "ping", "destination": "w1"}');
    expect(() => decodeControlRequest(raw)).toThrow(/destination/);
  });

  it('replies as {node: result} with the ticket header', () => {
    const raw = encodeControlReply('w1@vm', { ok: 'pong' }, 't-1', 3);
    expect(raw.headers).toEqual({ ticket: 't-1', clock: 3 });
    expect(decodeControlReply(raw)).toEqual({ ticket: 't-1', replies: { 'w1@vm': { ok: 'pong' } } });
  });
});
