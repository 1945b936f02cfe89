import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from './url.js';

describe('parseRedisUrl', () => {
  it('reads host, port, db and password from redis://', () => {
    const e = parseRedisUrl('redis://:s3cr%40t@cache.example:6380/4');
    expect(e.options).toMatchObject({ host: 'cache.example', port: 6380, db: 4, password: 's3cr@t' });
    expect(e.options.username).toBeUndefined();
    expect(e.db).toBe(4);
    expect(e.display).toBe('redis://:***@cache.example:6380/4');
  });

  it('defaults to 127.0.0.1:6379 db 0, and takes a user name (Redis 6 ACL)', () => {
    expect(parseRedisUrl('redis://').options).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 });
    expect(parseRedisUrl('redis://localhost').options).toMatchObject({ host: 'localhost', port: 6379, db: 0 });
    expect(parseRedisUrl('redis://app:pw@h/2').options).toMatchObject({ username: 'app', password: 'pw', db: 2 });
    expect(parseRedisUrl('redis://[::1]:7000/1').options).toMatchObject({ host: '::1', port: 7000, db: 1 });
  });

  it('turns rediss:// into TLS, honouring ssl_cert_reqs', () => {
    const e = parseRedisUrl('rediss://:pw@redis.example:6380/0?ssl_cert_reqs=CERT_NONE');
    expect(e.options.tls).toMatchObject({ servername: 'redis.example', rejectUnauthorized: false });
    expect(parseRedisUrl('rediss://redis.example').options.tls).toEqual({ servername: 'redis.example' });
    expect(() => parseRedisUrl('rediss://h/0?ssl_ca_certs=/nonexistent/ca.pem')).toThrow(/cannot read the CA file \/nonexistent\/ca.pem/);
  });

  it('reads a unix socket path and its db (redis+socket://, socket://, unix://)', () => {
    expect(parseRedisUrl('redis+socket:///var/run/redis.sock?virtual_host=3').options).toEqual({ path: '/var/run/redis.sock', db: 3 });
    expect(parseRedisUrl('socket:///tmp/r.sock?db=2').db).toBe(2);
    expect(parseRedisUrl('unix:///tmp/r.sock').db).toBe(0);
    expect(() => parseRedisUrl('redis+socket://')).toThrow(/names no socket path/);
  });

  it('reads several sentinels and needs the master name', () => {
    const e = parseRedisUrl('sentinel://:pw@s1:26379;sentinel://s2:26380;sentinel://s3/5', { masterName: 'mymaster', sentinelPassword: 'sp' });
    expect(e.options).toMatchObject({
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }, { host: 's3', port: 26379 }],
      name: 'mymaster',
      password: 'pw',
      sentinelPassword: 'sp',
      db: 5,
    });
    expect(e.db).toBe(5);
    expect(() => parseRedisUrl('sentinel://s1:26379')).toThrow(/set the transport option masterName \(Celery's broker_transport_options=\{'master_name'/);
  });

  it('says what is wrong with a bad URL', () => {
    expect(() => parseRedisUrl('amqp://h')).toThrow(/is not a Redis URL/);
    expect(() => parseRedisUrl('redis://h/x')).toThrow(/database in redis:\/\/h\/x must be a number/);
    expect(() => parseRedisUrl('redis://a;redis://b')).toThrow(/only sentinel:\/\/ URLs may list alternatives/);
  });
});
