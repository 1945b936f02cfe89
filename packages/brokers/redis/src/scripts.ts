/**
 * The Lua scripts that make kombu's multi-command steps atomic. Each writes exactly the keys and
 * values Python's kombu/Celery write, in one round trip:
 *
 * - pop: RPOP up to N messages across the queues' priority lists (in kombu's BRPOP key order,
 *   rotating queues for round robin) AND register each in `unacked`/`unacked_index`, so a
 *   message is never out of the list without being in the unacked hash (kombu pops with BRPOP
 *   and registers in a second round trip, losing the message if the client dies in between).
 * - register: the same registration for a message a BRPOP returned.
 * - ack: ZREM + HDEL for many tags at once (a pop carries the acks pending when it is sent).
 * - requeue: push a message back (LPUSH for reject, RPUSH for restores) and drop it from the
 *   unacked keys, only while it is still unacknowledged — and, for the visibility sweep, only
 *   while its score is still old, so a `touch` that lands first wins.
 * - purge, mutex release, the result store (many at once) that never replaces a SUCCESS, and the
 *   chord join.
 */
import type { Redis } from 'ioredis';

/** Python's json.dumps for a string (ensure_ascii), used for the exchange/routing key in `unacked`. */
const PYSTR = `
local ESC = { ['"'] = '\\\\"', ['\\\\'] = '\\\\\\\\', ['\\b'] = '\\\\b', ['\\f'] = '\\\\f', ['\\n'] = '\\\\n', ['\\r'] = '\\\\r', ['\\t'] = '\\\\t' }
local function pystr(s)
  if not string.find(s, '[%z\\1-\\31"\\\\\\127-\\255]') then return '"' .. s .. '"' end
  local out = {}
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    if c < 128 then
      local ch = string.char(c)
      if ESC[ch] then out[#out + 1] = ESC[ch]
      elseif c < 32 or c == 127 then out[#out + 1] = string.format('\\\\u%04x', c)
      else out[#out + 1] = ch end
      i = i + 1
    else
      local cp, len
      if c >= 240 then cp, len = c - 240, 4 elseif c >= 224 then cp, len = c - 224, 3 elseif c >= 192 then cp, len = c - 192, 2 else cp, len = 65533, 1 end
      if len > 1 then
        for j = 1, len - 1 do cp = cp * 64 + ((string.byte(s, i + j) or 128) - 128) end
      end
      if cp >= 65536 then
        cp = cp - 65536
        out[#out + 1] = string.format('\\\\u%04x\\\\u%04x', 55296 + math.floor(cp / 1024), 56320 + cp % 1024)
      else
        out[#out + 1] = string.format('\\\\u%04x', cp)
      end
      i = i + len
    end
  end
  return '"' .. table.concat(out) .. '"'
end
`;

/**
 * Register one popped envelope in the ack-emulation keys, exactly as kombu's QoS.append. The
 * delivery tag, exchange and routing key are read from the fixed tail kombu writes
 * (`"delivery_info": {…}, "priority": N, "body_encoding": "base64", "delivery_tag": "…"}}`)
 * without decoding the whole envelope; anything else (escaped names, other layouts) is decoded.
 */
const REGISTER_FN = `
local TAIL = ', "body_encoding": "base64", "delivery_tag": "'
local INFO = '"delivery_info": {"exchange": "'
local function fastmeta(raw)
  local n = #raw
  if n < 120 or string.sub(raw, n - 2) ~= '"}}' then return nil end
  local ts, te = string.find(raw, TAIL, n - 160, true)
  if not ts then return nil end
  local tag = string.sub(raw, te + 1, n - 3)
  if tag == '' or string.find(tag, '[^%w%-_.:]') then return nil end
  local from = ts - 900
  if from < 1 then from = 1 end
  local is, ie = nil, nil
  while true do
    local s, e = string.find(raw, INFO, from, true)
    if not s or s > ts then break end
    is, ie = s, e
    from = e + 1
  end
  if not is then return nil end
  local exEnd = string.find(raw, '"', ie + 1, true)
  if not exEnd then return nil end
  local ex = string.sub(raw, ie + 1, exEnd - 1)
  -- '", "routing_key": "' is 19 characters: the routing key starts 19 after the exchange's quote.
  if string.sub(raw, exEnd, exEnd + 18) ~= '", "routing_key": "' then return nil end
  local rkEnd = string.find(raw, '"', exEnd + 19, true)
  if not rkEnd then return nil end
  local rk = string.sub(raw, exEnd + 19, rkEnd - 1)
  if string.find(ex, '\\\\', 1, true) or string.find(rk, '\\\\', 1, true) then return nil end
  local rest = string.sub(raw, rkEnd + 1, ts - 1)
  if not (string.find(rest, '^}, "priority": %-?%d+$') or string.find(rest, '^, "redelivered": true}, "priority": %-?%d+$')) then return nil end
  return tag, '"' .. ex .. '"', '"' .. rk .. '"'
end
-- With pending (a pop of many), the ZADD/HSET pairs are gathered and written by flush(): one
-- command each per batch instead of two per message; the keys and values are the same.
local function register(unacked, index, raw, queue, now, seq, pending)
  local tag, ex, rk = fastmeta(raw)
  if not tag then
    local ok, env = pcall(cjson.decode, raw)
    if not ok or type(env) ~= 'table' then return false end
    local props = env['properties']
    if type(props) ~= 'table' then props = {} end
    tag = props['delivery_tag']
    if type(tag) ~= 'string' or tag == '' then tag = 'tq-' .. redis.sha1hex(raw .. now .. seq) end
    ex, rk = '', queue
    local info = props['delivery_info']
    if type(info) == 'table' then
      if type(info['exchange']) == 'string' then ex = info['exchange'] end
      if type(info['routing_key']) == 'string' then rk = info['routing_key'] end
    end
    ex, rk = pystr(ex), pystr(rk)
  end
  local value = '[' .. raw .. ', ' .. ex .. ', ' .. rk .. ']'
  if pending then
    local z, h = pending.z, pending.h
    z[#z + 1] = now
    z[#z + 1] = tag
    h[#h + 1] = tag
    h[#h + 1] = value
  else
    redis.call('ZADD', index, now, tag)
    redis.call('HSET', unacked, tag, value)
  end
  return tag
end
local function flush(unacked, index, pending)
  if #pending.z > 0 then
    redis.call('ZADD', index, unpack(pending.z))
    redis.call('HSET', unacked, unpack(pending.h))
    pending.z, pending.h = {}, {}
  end
end
`;

/**
 * KEYS: unacked, unacked_index, then the lists step-major (KEYS[2 + s*nq + q]).
 * ARGV: max, now, nq, rotate(1|0), queue names ×nq, current order ×nq (1-based), then the tags
 * of messages to acknowledge first (the ack script's work, carried by the pop that follows it).
 * Returns [q, raw, tag|'' , …, finalOrder].
 */
const POP = `${PYSTR}${REGISTER_FN}
local max = tonumber(ARGV[1])
local now = ARGV[2]
local nq = tonumber(ARGV[3])
local rotate = ARGV[4] == '1'
local ns = (#KEYS - 2) / nq
local firstAck = 5 + 2 * nq
if #ARGV >= firstAck then
  redis.call('ZREM', KEYS[2], unpack(ARGV, firstAck))
  redis.call('HDEL', KEYS[1], unpack(ARGV, firstAck))
end
local order = {}
for i = 1, nq do order[i] = tonumber(ARGV[4 + nq + i]) end
local out = {}
local got = 0
local pending = { z = {}, h = {} }
local function take(q, raw)
  local tag = register(KEYS[1], KEYS[2], raw, ARGV[4 + q], now, got, pending)
  out[#out + 1] = q
  out[#out + 1] = raw
  out[#out + 1] = tag or ''
  got = got + 1
  -- unpack() is bounded by Lua's stack: write every 200 messages.
  if #pending.z >= 400 then flush(KEYS[1], KEYS[2], pending) end
end
-- One queue: RPOP key count (Redis >= 6.2) per priority list, lowest step first; the same
-- messages in the same order as one RPOP at a time. Older servers refuse the count: the loop
-- below then pops one by one.
if nq == 1 then
  for s = 0, ns - 1 do
    if got >= max then break end
    local items = redis.pcall('RPOP', KEYS[3 + s], max - got)
    if type(items) == 'table' and items['err'] then break end
    if items then
      for _, raw in ipairs(items) do take(1, raw) end
    end
  end
end
while got < max do
  local found = false
  for s = 0, ns - 1 do
    for oi = 1, nq do
      local q = order[oi]
      local raw = redis.call('RPOP', KEYS[2 + s * nq + q])
      if raw then
        take(q, raw)
        if rotate and nq > 1 then
          table.remove(order, oi)
          order[#order + 1] = q
        end
        found = true
        break
      end
    end
    if found then break end
  end
  if not found then break end
end
flush(KEYS[1], KEYS[2], pending)
out[#out + 1] = table.concat(order, ',')
return out
`;

/** KEYS: unacked, unacked_index. ARGV: raw, queue, now. Returns the tag, or false for a malformed message. */
const REGISTER = `${PYSTR}${REGISTER_FN}
return register(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], 0)
`;

/** KEYS: unacked, unacked_index. ARGV: tags. */
const ACK = `
redis.call('ZREM', KEYS[2], unpack(ARGV))
return redis.call('HDEL', KEYS[1], unpack(ARGV))
`;

/**
 * KEYS: unacked, unacked_index, target lists…  ARGV: tag, payload, 'L'|'R', [ceiling score].
 * Without a ceiling: only while the tag is still in `unacked` (not acked, not restored by someone
 * else). With one (the visibility sweep): only while its score is still ≤ the ceiling.
 */
const REQUEUE = `
local tag = ARGV[1]
if ARGV[4] and ARGV[4] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], tag)
  if (not score) or tonumber(score) > tonumber(ARGV[4]) then return 0 end
elseif redis.call('HEXISTS', KEYS[1], tag) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], tag)
redis.call('HDEL', KEYS[1], tag)
if ARGV[2] ~= '' then
  local push = ARGV[3] == 'L' and 'LPUSH' or 'RPUSH'
  for i = 3, #KEYS do redis.call(push, KEYS[i], ARGV[2]) end
end
return 1
`;

/** KEYS: lists. Returns how many messages were removed. */
const PURGE = `
local n = 0
for i = 1, #KEYS do
  n = n + redis.call('LLEN', KEYS[i])
  redis.call('DEL', KEYS[i])
end
return n
`;

/** KEYS: mutex. ARGV: token. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Many results at once (one round trip for a batch of STORE). KEYS: the meta keys (also their
 * channels). ARGV: expiry mode, expiry, then one JSON per key. Returns how many were stored.
 */
const STORE_MANY = `
local mode, amount = ARGV[1], ARGV[2]
local stored = 0
for i = 1, #KEYS do
  local key, json = KEYS[i], ARGV[i + 2]
  local current = redis.call('GET', key)
  local keep = false
  if current then
    local head = string.sub(current, 1, 21)
    if head == '{"status": "SUCCESS",' or head == '{"status": "SUCCESS"}' then
      keep = true
    elseif string.sub(current, 1, 12) ~= '{"status": "' then
      local ok, meta = pcall(cjson.decode, current)
      keep = ok and type(meta) == 'table' and meta['status'] == 'SUCCESS'
    end
  end
  if not keep then
    if mode == '' then redis.call('SET', key, json) else redis.call('SET', key, json, mode, amount) end
    redis.call('PUBLISH', key, json)
    stored = stored + 1
  end
end
return stored
`;

/**
 * Celery's RedisBackend.on_chord_part_return, atomically. KEYS: .j, .t, .s.
 * ARGV: member '[1, "<tid>", "<STATE>", <result>]', score (index or '+inf'), expires ('' = none),
 * size fallback ('' = none). Returns the parts (ZRANGE WITHSCORES) to the one call that
 * completes the chord, and deletes the keys then; false otherwise.
 */
const CHORD = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local count = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local extra = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
if ARGV[3] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
if not size then
  if ARGV[4] == '' then return false end
  size = ARGV[4]
  if ARGV[3] ~= '' then redis.call('SETEX', KEYS[3], ARGV[3], size) else redis.call('SET', KEYS[3], size) end
end
if count == (tonumber(size) or -1) + extra then
  local parts = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return parts
end
return false
`;

/**
 * Compare-and-set for beat's lease and run records (see docs/beat.md): if the key holds
 * ARGV[2] (or is absent when ARGV[1] is '1'), set it to ARGV[4] (delete when ARGV[3] is '1'),
 * with a PX expiry when ARGV[5] is given. Returns 1 when it changed the key, 0 otherwise.
 */
const CAS = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4])
end
return 1
`;

/** The scripts as ioredis commands (EVALSHA, with EVAL after a server restart flushed them). */
export interface ScriptCommands {
  tqPop(numKeys: number, ...args: (string | number)[]): Promise<(string | number)[]>;
  tqRegister(unacked: string, index: string, raw: string, queue: string, now: string): Promise<string | null>;
  tqAck(unacked: string, index: string, ...tags: string[]): Promise<number>;
  tqRequeue(numKeys: number, ...args: (string | number)[]): Promise<number>;
  tqPurge(numKeys: number, ...keys: string[]): Promise<number>;
  tqRelease(mutex: string, token: string): Promise<number>;
  tqStoreMany(numKeys: number, ...args: (string | Buffer)[]): Promise<number>;
  tqChord(jkey: string, tkey: string, skey: string, member: string, score: string, expires: string, sizeFallback: string): Promise<string[] | null>;
  tqCas(key: string, expectedIsNull: string, expected: string, valueIsNull: string, value: string, ttlMs: string): Promise<number>;
}

export type ScriptedRedis = Redis & ScriptCommands;

export function defineScripts(client: Redis): ScriptedRedis {
  client.defineCommand('tqPop', { lua: POP });
  client.defineCommand('tqRegister', { lua: REGISTER, numberOfKeys: 2 });
  client.defineCommand('tqAck', { lua: ACK, numberOfKeys: 2 });
  client.defineCommand('tqRequeue', { lua: REQUEUE });
  client.defineCommand('tqPurge', { lua: PURGE });
  client.defineCommand('tqRelease', { lua: RELEASE, numberOfKeys: 1 });
  client.defineCommand('tqStoreMany', { lua: STORE_MANY });
  client.defineCommand('tqChord', { lua: CHORD, numberOfKeys: 3 });
  client.defineCommand('tqCas', { lua: CAS, numberOfKeys: 1 });
  return client as ScriptedRedis;
}

/** The Lua sources, for tests that check a script on its own. */
export const LUA = { POP, REGISTER, ACK, REQUEUE, PURGE, RELEASE, STORE_MANY, CHORD, CAS, PYSTR };
