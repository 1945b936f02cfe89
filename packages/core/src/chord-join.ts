/**
 * The chord join: when a chord header task ends, record its outcome with the backend's atomic
 * counter, and when the last one is in, fire the body with every header result in order — or,
 * if any header failed, fail the body with ChordError and run its errbacks. Exactly one header
 * completion sees the chord complete (the backend guarantees it), so the body fires once.
 *
 * Backends without a counter use the `celery.chord_unlock` task instead (see @tq/canvas).
 */
import { encodeException, exceptionInfoRepr, isExceptionInfo, type SignatureDict } from '@tq/protocol';
import type { App } from './app.js';
import { ChordError } from './errors.js';
import { PROPAGATE_STATES } from './states.js';

export interface ChordMember {
  id: string;
  group: string | null;
  groupIndex: number | null;
  chord: SignatureDict | null;
}

/** A stored exception for a chord error message: `ValueError("bad value 7")`. */
function excRepr(result: unknown): string {
  return isExceptionInfo(result) ? exceptionInfoRepr(result) : String(result);
}

/** Record a header's outcome; fire or fail the body if this completes the chord. */
export async function chordPartReturn(app: App, member: ChordMember, state: string, result: unknown): Promise<void> {
  const body = member.chord;
  if (!body || !member.group) return;
  const backend = await app.getBackend();
  if (!backend?.capabilities.chordCounter || !backend.chordPartReturn) return;
  const stored = PROPAGATE_STATES.has(state) && !isExceptionInfo(result) ? encodeException(result) : result;
  const size = typeof body['chord_size'] === 'number' ? body['chord_size'] : undefined;
  const parts = await backend.chordPartReturn(member.group, { index: member.groupIndex ?? Number.MAX_SAFE_INTEGER, taskId: member.id, state, result: stored }, size);
  if (!parts) return;
  const failed = parts.find((part) => PROPAGATE_STATES.has(part.state));
  if (failed) {
    await chordError(app, body, new ChordError(`Dependency ${failed.taskId} raised ${excRepr(failed.result)}`));
    return;
  }
  let values: unknown[] = parts.map((part) => part.result);
  // A header with groups among its members was saved when the chord was applied (as Celery's
  // Redis backend does): join it, so that the body gets the header's nested shape.
  if (app.groupResultFactory) {
    let header = null;
    try {
      const saved = await backend.restoreGroup(member.group);
      header = saved === null || saved === undefined ? null : app.resultFromTuple(saved);
    } catch (err) {
      await chordError(app, body, new ChordError(`Cannot restore group: ${(err as Error).message}`));
      return;
    }
    if (header) {
      try {
        const timeout = app.config.resultChordJoinTimeout;
        values = (await header.get({ propagate: true, timeout: typeof timeout === 'number' ? timeout : 3 })) as unknown[];
      } catch (err) {
        await chordError(app, body, new ChordError(`Dependency raised ${(err as Error).name}: ${(err as Error).message}`));
        return;
      }
    }
  }
  try {
    await app.signature(body).applyAsync([values]);
  } catch (err) {
    app.logger.error(`chord callback for group ${member.group} could not be sent`, { error: (err as Error).message });
    await chordError(app, body, new ChordError(`Callback error: ${(err as Error).message}`));
  }
}

type Dict = SignatureDict;

function membersOf(dict: Dict): Dict[] {
  const tasks = (dict.kwargs as { tasks?: unknown } | undefined)?.tasks;
  return Array.isArray(tasks) ? (tasks as Dict[]) : [];
}

function chordParts(dict: Dict): { header: Dict[]; body: Dict | null } {
  const kwargs = (dict.kwargs ?? {}) as { header?: unknown; body?: unknown };
  const header = Array.isArray(kwargs.header) ? (kwargs.header as Dict[]) : kwargs.header ? membersOf(kwargs.header as Dict) : [];
  return { header, body: (kwargs.body as Dict | null | undefined) ?? null };
}

function taskIdOf(dict: Dict): string | null {
  const id = dict.options?.['task_id'];
  return typeof id === 'string' ? id : null;
}

/** The id whose result a signature dict stands for: a chain's last step, a chord's body, else its own. */
function resultIdOf(dict: Dict): string | null {
  if (dict.subtask_type === 'chain') {
    const steps = membersOf(dict);
    return steps.length > 0 ? resultIdOf(steps[steps.length - 1]!) : null;
  }
  if (dict.subtask_type === 'chord') {
    const { body } = chordParts(dict);
    return body ? resultIdOf(body) : null;
  }
  return taskIdOf(dict);
}

/** The errbacks that would run had the signature failed, each with the id it is called with. */
function errbacksOf(dict: Dict, out: Array<[Dict, string | null]> = []): Array<[Dict, string | null]> {
  const own = (dict.options?.['link_error'] as Dict[] | undefined) ?? [];
  for (const errback of own) out.push([errback, resultIdOf(dict)]);
  if (dict.subtask_type === 'group') for (const member of membersOf(dict)) errbacksOf(member, out);
  else if (dict.subtask_type === 'chain') {
    const steps = membersOf(dict);
    if (steps.length > 0) errbacksOf(steps[steps.length - 1]!, out);
  } else if (dict.subtask_type === 'chord') {
    const { body } = chordParts(dict);
    if (body) errbacksOf(body, out);
  }
  return out;
}

/**
 * Mark as failed everything a signature dict stands for, as Celery's `mark_as_failure` does for
 * a chain: group and chain members, a chord's body (its header never ran), the continuation a
 * signature carries in `options.chain`, and — for a task that is itself a chord header member —
 * its part of that outer chord, so that no result and no chord waits forever.
 */
async function failSignatures(app: App, dicts: Dict[], state: string, encoded: unknown, traceback: string | null): Promise<void> {
  const pending = [...dicts];
  for (let i = 0; i < pending.length; i++) {
    const dict = pending[i]!;
    const continuation = (dict.options?.['chain'] as Dict[] | null | undefined) ?? [];
    if (dict.subtask_type === 'chain' || dict.subtask_type === 'group') pending.push(...membersOf(dict));
    else if (dict.subtask_type === 'chord') {
      const { header, body } = chordParts(dict);
      for (const member of header) {
        const id = resultIdOf(member);
        if (id) await app.storeResult(id, state, encoded, { traceback });
      }
      if (body) pending.push(body);
    } else {
      const id = taskIdOf(dict);
      if (id) await app.storeResult(id, state, encoded, { traceback });
      const chord = dict.options?.['chord'] as Dict | null | undefined;
      const group = dict.options?.['group_id'];
      if (chord && typeof group === 'string') {
        const index = dict.options?.['group_index'];
        await chordPartReturn(app, { id: id ?? '', group, groupIndex: typeof index === 'number' ? index : null, chord }, state, encoded);
      }
    }
    pending.push(...continuation);
  }
}

/**
 * Fail a chord body that will not run (Celery's `chord_error_from_stack`): store ChordError for
 * every task the body stands for (see `failSignatures`), and call the body's errbacks with the
 * body's id.
 */
export async function chordError(app: App, body: SignatureDict, error: ChordError): Promise<void> {
  const dict = app.signature(body).toDict();
  const bodyId = resultIdOf(dict);
  app.logger.error(`chord body ${dict.task}${bodyId ? `[${bodyId}]` : ''} will not run: ${error.message}`);
  await failSignatures(app, [dict], 'FAILURE', encodeException(error), error.stack ?? null);
  for (const [errback, id] of errbacksOf(dict)) {
    await app.signature(errback).applyAsync([id], { ...(id ? { parentId: id, rootId: id } : {}) });
  }
}
