import { createTaskMessage, decodeTaskMessage, encodeTaskMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { decodeSqsBody, envelopeJson, optionalBase64, sqsBody } from './envelope.js';

/** A MessageBody written by Python Celery 5.2.6 / kombu 5.2.4 to fauxqs (`send_task('py.add', (1, 2), countdown=3)`). */
const PYTHON_ENVELOPE =
  '{"body": "W1sxLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "py.add", "id": "bb03c1a9-0cfd-4039-810a-26cad81d8d11", "shadow": null, "eta": "2026-12-03T00:38:53.667244+00:00", "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "bb03c1a9-0cfd-4039-810a-26cad81d8d11", "parent_id": null, "argsrepr": "(1, 2)", "kwargsrepr": "{}", "origin": "gen15269@vm", "ignore_result": false}, "properties": {"correlation_id": "bb03c1a9-0cfd-4039-810a-26cad81d8d11", "reply_to": "63bec0df-a4d4-3bcb-92da-9cd798441e16", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "pq"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "06a346db-314c-473d-b019-d2c61e3f4ad8"}}';

describe("kombu's SQS message body", () => {
  it('reads what Python Celery wrote: base64 of the JSON envelope', () => {
    const decoded = decodeSqsBody(Buffer.from(PYTHON_ENVELOPE).toString('base64'));
    const task = decodeTaskMessage(decoded.message);
    expect(task.headers.task).toBe('py.add');
    expect(task.args).toEqual([1, 2]);
    expect(decoded.routingKey).toBe('pq');
    expect(decoded.message.properties['delivery_tag']).toBeUndefined();
  });

  it('writes the envelope in kombu key order and Python spacing, then base64', () => {
    const message = encodeTaskMessage(createTaskMessage({ id: 'x-1', task: 'tq.add', args: [1, 'é'], origin: 'gen1@h' }));
    const json = envelopeJson(message, '', 'celery');
    expect(json).toMatch(/^\{"body": "[A-Za-z0-9+/=]+", "content-encoding": "utf-8", "content-type": "application\/json", "headers": \{"lang": "py", "task": "tq.add", "id": "x-1"/);
    expect(json).toContain('"delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "');
    expect(json).not.toMatch(/[^\x20-\x7e]/);
    const body = sqsBody(json, true);
    expect(Buffer.from(body, 'base64').toString()).toBe(json);
    expect(decodeTaskMessage(decodeSqsBody(body).message).args).toEqual([1, 'é']);
  });

  it('accepts the raw JSON SNS delivers, as kombu does', () => {
    expect(optionalBase64(PYTHON_ENVELOPE)).toBe(PYTHON_ENVELOPE);
    expect(decodeSqsBody(PYTHON_ENVELOPE).routingKey).toBe('pq');
  });

  it('refuses what is not a kombu message, saying why', () => {
    expect(() => decodeSqsBody('%%% not base64 %%%')).toThrow(/neither base64 nor JSON/);
    expect(() => decodeSqsBody(Buffer.from('{"body": ').toString('base64'))).toThrow(/invalid JSON/);
    expect(() => decodeSqsBody(Buffer.from('[1, 2]').toString('base64'))).toThrow(/expected a JSON object, got a list/);
    expect(() => decodeSqsBody('{"body": 5}')).toThrow(/body is not a string/);
  });
});
