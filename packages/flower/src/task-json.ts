/**
 * Task records: an events-State task as TaskJson (the UI's shape and what the history stores),
 * Flower's `as_dict` shape for its REST API, and the way back from a stored record into State.
 */
import { EventTask } from '@tq/core';
import type { TaskJson } from './types.js';

export function taskJson(task: EventTask): TaskJson {
  return {
    uuid: task.uuid,
    name: task.name,
    state: task.state,
    args: task.args,
    kwargs: task.kwargs,
    result: task.result,
    exception: task.exception,
    traceback: task.traceback,
    worker: task.worker,
    received: task.received,
    started: task.started,
    succeeded: task.succeeded,
    failed: task.failed,
    retried: task.retried,
    revoked: task.revoked,
    timestamp: task.timestamp,
    runtime: task.runtime,
    retries: task.retries,
    eta: task.eta,
    expires: task.expires,
    parentId: task.parentId,
    rootId: task.rootId,
    children: [...task.children],
  };
}

/** Flower's `/api/tasks` and `/api/task/info` record: Celery's `Task.as_dict()` with the worker's hostname. */
export function flowerTaskDict(task: EventTask): Record<string, unknown> {
  return task.asDict();
}

/** The event fields that link a task into its workflow (see graph.ts), kept with its record. */
export const CANVAS_FIELDS = ['group', 'chord', 'chain_next', 'callbacks'] as const;

export function canvasExtra(task: EventTask): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const key of CANVAS_FIELDS) if (task.extra[key] !== undefined) (out ??= {})[key] = task.extra[key];
  return out;
}

/** A stored record back as an events-State task (timestamps kept, so later events merge correctly). */
export function restoreTask(json: TaskJson, lastUpdate: number, canvas?: Record<string, unknown>): EventTask {
  const task = new EventTask(json.uuid);
  task.name = json.name;
  task.state = json.state;
  task.args = json.args;
  task.kwargs = json.kwargs;
  task.result = json.result;
  task.exception = json.exception;
  task.traceback = json.traceback;
  task.worker = json.worker;
  task.received = json.received;
  task.started = json.started;
  task.succeeded = json.succeeded;
  task.failed = json.failed;
  task.retried = json.retried;
  task.revoked = json.revoked;
  task.timestamp = json.timestamp;
  task.runtime = json.runtime;
  task.retries = json.retries;
  task.eta = json.eta;
  task.expires = json.expires;
  task.parentId = json.parentId;
  task.rootId = json.rootId;
  for (const child of json.children ?? []) task.children.add(child);
  task.lastUpdate = lastUpdate;
  if (canvas) for (const key of CANVAS_FIELDS) if (canvas[key] !== undefined) task.extra[key] = canvas[key];
  return task;
}

/** The approximate heap a task record holds: strings at two bytes a character plus fixed overhead. */
export function taskBytes(task: EventTask): number {
  let bytes = 480 + task.children.size * 90;
  for (const s of [task.uuid, task.name, task.state, task.args, task.kwargs, task.result, task.exception, task.traceback, task.worker, task.eta, task.expires, task.parentId, task.rootId]) {
    if (s) bytes += 16 + s.length * 2;
  }
  return bytes;
}
