/**
 * Celery's MongoDB documents (celery/backends/mongodb.py), to and from tq's result meta:
 *
 *   celery_taskmeta  {_id: task id, status, result: <the result as Celery's serializer writes it:
 *                     JSON text such as "5">, traceback, children, date_done: BSON Date | null,
 *                     [group_id], [parent_id], [name, args, kwargs, worker, retries, queue]}
 *   celery_groupmeta {_id: group id, result: <JSON text of the member ids>, date_done: BSON Date}
 *
 * Reading also accepts what other Celery versions write: `date_done` as ISO text (Celery 5.2
 * formats it before storing) and a native `result` (serializer `bson`). A pickled result
 * (BSON Binary) is refused, never loaded.
 *
 * FerretDB v1 refuses nested arrays ("nested arrays are not supported"), which `children`
 * (`[[[id, null], null]]`) and group tuples are made of. On such a server, and only for values
 * that hold one, the field is stored as its JSON text instead (`nestedAsText`), and every reader
 * here accepts both forms. Python Celery cannot store such children on FerretDB at all.
 *
 * Beyond Celery, and only when needed: `tq_expires` (a Date) when a result's expiry differs from
 * the backend's default, and `tq_tuple` on a group whose members are groups or chains, whose shape
 * the id list cannot carry. Celery reads neither and both are absent otherwise.
 */
import { EncodeError } from '@tq/core';
import { parsePyDatetime, pyIsoDatetime, pyJsonDumps, pyJsonLoads, ProtocolError, validateResultMeta, type ResultMeta } from '@tq/protocol';

export interface TaskDocument {
  _id: string;
  status: string;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: Date | null;
  group_id?: string;
  parent_id?: string;
  name?: string | null;
  args?: unknown;
  kwargs?: unknown;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  tq_expires?: Date;
  [extra: string]: unknown;
}

export interface GroupDocument {
  _id: string;
  result: unknown;
  date_done: Date;
  tq_tuple?: unknown;
}

const EXTENDED = ['name', 'args', 'kwargs', 'worker', 'retries', 'queue'] as const;

function json(what: string, value: unknown): string {
  try {
    return pyJsonDumps(value);
  } catch (err) {
    throw new EncodeError(`${what} cannot be stored as JSON: ${(err as Error).message}`, err);
  }
}

/**
 * Plain BSON for a value Celery stores natively (children, args, kwargs): JSON-safe data as it
 * is; dates, decimals and bytes as kombu's `{"__type__": …}` wrappers, which `fromPlain` undoes.
 */
function toPlain(what: string, value: unknown): unknown {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean') return value ?? null;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return JSON.parse(json(what, value)) as unknown;
}

/** As `toPlain`, but JSON text where the value holds an array inside an array and `nestedAsText`. */
function toField(what: string, value: unknown, nestedAsText: boolean): unknown {
  const plain = toPlain(what, value);
  return nestedAsText && hasNestedArray(plain, false) ? JSON.stringify(plain) : plain;
}

function hasNestedArray(value: unknown, inArray: boolean): boolean {
  if (Array.isArray(value)) return inArray || value.some((v) => hasNestedArray(v, true));
  if (value !== null && typeof value === 'object') return Object.values(value).some((v) => hasNestedArray(v, false));
  return false;
}

/** Undo `toField`: JSON text (FerretDB) or plain BSON with kombu's wrappers. */
function fromField(value: unknown): unknown {
  if (typeof value === 'string') return pyJsonLoads(value);
  return fromPlain(value);
}

function fromPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return pyJsonLoads(JSON.stringify(value));
}

/** FerretDB v1's refusal of a document with an array inside an array. */
export function isNestedArrayError(err: unknown): boolean {
  return /nested arrays are not supported/i.test(String((err as { errmsg?: unknown; message?: unknown } | null)?.errmsg ?? (err as Error | null)?.message ?? ''));
}

function dateOf(meta: ResultMeta): Date | null {
  if (meta.date_done === null || meta.date_done === undefined) return null;
  return parsePyDatetime(meta.date_done) ?? new Date();
}

/** The document Celery's `_store_result` writes for this meta. */
export function toTaskDocument(meta: ResultMeta, expiresAt: Date | null, nestedAsText = false): TaskDocument {
  const what = `the result of task ${meta.task_id}`;
  const doc: TaskDocument = {
    _id: meta.task_id,
    status: meta.status,
    result: json(what, meta.result),
    traceback: meta.traceback ?? null,
    children: toField(what, meta.children ?? [], nestedAsText) as unknown[],
    date_done: dateOf(meta),
  };
  if (meta.group_id) doc.group_id = meta.group_id;
  if (meta.parent_id) doc.parent_id = meta.parent_id;
  if (EXTENDED.some((key) => key in meta)) {
    for (const key of EXTENDED) (doc as Record<string, unknown>)[key] = toField(what, meta[key], nestedAsText);
  }
  if (expiresAt) doc.tq_expires = expiresAt;
  return doc;
}

function decodeResult(value: unknown, taskId: string): unknown {
  if (typeof value === 'string') return pyJsonLoads(value);
  if (value && typeof value === 'object' && (value as { _bsontype?: string })._bsontype === 'Binary') {
    throw new ProtocolError(`the result of task ${taskId} is binary (pickle or msgpack, Celery's result_serializer); tq reads JSON results only: set result_serializer = 'json'`, {
      field: 'result',
      messageId: taskId,
    });
  }
  // serializer='bson': stored as it is.
  return value instanceof Date ? value : fromPlain(value);
}

function isoOf(value: unknown): string | null {
  if (value instanceof Date) return pyIsoDatetime(value);
  if (typeof value === 'string') {
    const date = parsePyDatetime(value);
    return date ? pyIsoDatetime(date) : value;
  }
  return null;
}

/** tq's meta (Celery's key order) from a stored document, whoever wrote it. */
export function fromTaskDocument(doc: TaskDocument): ResultMeta {
  const taskId = String(doc._id);
  const meta: Record<string, unknown> = {
    status: doc.status,
    result: decodeResult(doc.result, taskId),
    traceback: typeof doc.traceback === 'string' ? doc.traceback : null,
    children: typeof doc.children === 'string' || Array.isArray(doc.children) ? fromField(doc.children) : [],
    date_done: isoOf(doc.date_done),
  };
  if (doc.group_id) meta['group_id'] = doc.group_id;
  if (doc.parent_id) meta['parent_id'] = doc.parent_id;
  if (EXTENDED.some((key) => key in doc)) {
    // A string `name`, `worker` or `queue` is itself; a string `args`/`kwargs` is JSON text.
    for (const key of EXTENDED) meta[key] = key === 'args' || key === 'kwargs' ? fromField(doc[key] ?? null) : (doc[key] ?? null);
  }
  meta['task_id'] = taskId;
  return validateResultMeta(meta, taskId);
}

/** The expiry of a stored result: its own, else `date_done` plus the default; null: never. */
export function expiryOf(doc: { date_done?: unknown; tq_expires?: unknown }, defaultExpires: number | null): number | null {
  if (doc.tq_expires instanceof Date) return doc.tq_expires.getTime();
  if (defaultExpires === null) return null;
  const done = doc.date_done instanceof Date ? doc.date_done.getTime() : typeof doc.date_done === 'string' ? (parsePyDatetime(doc.date_done)?.getTime() ?? null) : null;
  return done === null ? null : done + defaultExpires * 1000;
}

type Tuple = [[string, unknown], unknown];

function isTuple(value: unknown): value is Tuple {
  return Array.isArray(value) && Array.isArray(value[0]) && typeof value[0][0] === 'string';
}

/** A member Celery's id list describes fully: a task with no parent and no children. */
function isPlainMember(member: unknown): boolean {
  return isTuple(member) && member[0][1] === null && (member[1] === null || member[1] === undefined);
}

/** Celery's group document for tq's group tuple `[[gid, null], [member tuples…]]`. */
export function toGroupDocument(groupId: string, tuple: unknown, expiresAt: Date | null, nestedAsText = false): GroupDocument & { tq_expires?: Date } {
  const members = isTuple(tuple) && Array.isArray(tuple[1]) ? (tuple[1] as unknown[]) : [];
  const ids = members.map((member) => (isTuple(member) ? member[0][0] : String(member)));
  const doc: GroupDocument & { tq_expires?: Date } = { _id: groupId, result: json(`the result of group ${groupId}`, ids), date_done: new Date() };
  if (!members.every(isPlainMember) || !isTuple(tuple) || tuple[0][1] !== null) doc.tq_tuple = toField(`the result of group ${groupId}`, tuple, nestedAsText);
  if (expiresAt) doc.tq_expires = expiresAt;
  return doc;
}

/** tq's group tuple from a group document (tq's or Celery's). */
export function fromGroupDocument(doc: GroupDocument): unknown {
  if (doc.tq_tuple !== undefined && doc.tq_tuple !== null) return fromField(doc.tq_tuple);
  const ids = decodeResult(doc.result, String(doc._id));
  if (!Array.isArray(ids)) return null;
  return [[String(doc._id), null], ids.map((id) => [[String(id), null], null])];
}
