import { describe, expect, it } from 'vitest';
import { parseAmqpUrl } from './url.js';

describe('parseAmqpUrl', () => {
  it("reads kombu's `//` as the vhost `/`", () => {
    expect(parseAmqpUrl('amqp://guest:guest@127.0.0.1:5672//')).toMatchObject({
      protocol: 'amqp', hostname: '127.0.0.1', port: 5672, username: 'guest', password: 'guest', vhost: '/',
    });
  });

  it('defaults: localhost, port 5672 (5671 with TLS), guest/guest, vhost /', () => {
    expect(parseAmqpUrl('amqp://')).toMatchObject({ hostname: 'localhost', port: 5672, username: 'guest', password: 'guest', vhost: '/' });
    expect(parseAmqpUrl('amqps://rabbit.example.com')).toMatchObject({ protocol: 'amqps', port: 5671, vhost: '/' });
  });

  it('decodes a named or percent-encoded vhost and credentials', () => {
    expect(parseAmqpUrl('amqp://u%40x:p%2Fw@h/my%2Fvhost').vhost).toBe('my/vhost');
    expect(parseAmqpUrl('amqp://u%40x:p%2Fw@h/prod')).toMatchObject({ username: 'u@x', password: 'p/w', vhost: 'prod' });
    expect(parseAmqpUrl('amqp://h/%2F').vhost).toBe('/');
  });

  it('treats pyamqp:// as amqp://', () => {
    expect(parseAmqpUrl('pyamqp://guest@h:5673/v').protocol).toBe('amqp');
    expect(parseAmqpUrl('pyamqp://guest@h:5673/v')).toMatchObject({ port: 5673, username: 'guest', password: '' });
  });

  it('reads heartbeat and connection timeout from the query', () => {
    const url = parseAmqpUrl('amqp://h//?heartbeat=30&connection_timeout=2500&frame_max=131072');
    expect(url).toMatchObject({ heartbeat: 30, connectionTimeout: 2500, frameMax: 131072, vhost: '/' });
    expect(parseAmqpUrl('amqp://h/?connect_timeout=4').connectionTimeout).toBe(4000);
    expect(parseAmqpUrl('amqp://h/?heartbeat=0').heartbeat).toBe(0);
  });

  it('refuses other schemes and bad numbers, without showing the password', () => {
    expect(() => parseAmqpUrl('redis://u:secret@h')).toThrow(/amqp:\/\/.*redis:\/\/u:\*\*\*@h/);
    expect(() => parseAmqpUrl('amqp://h/?heartbeat=soon')).toThrow(/heartbeat=soon/);
  });
});
