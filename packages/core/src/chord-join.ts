/**
 * The chord join: when a chord header task ends, record its outcome with the backend's atomic
 * counter, and when the last one is in, fire the body with every header result in order — or,
 * if any header failed, fail the body with ChordError and run its errbacks. Exactly one header
 * completion sees the chord complete (the backend guarantees it), so the body fires once.
 *
 * Backends without a counter use the `celery.chord_unlock` task instead (see @tq/canvas).
 */
import { encodeException, isExceptionInfo, exceptionMessage, type SignatureDict } from '@tq/protocol';
import type { App } from './app.js';
import { ChordError } from './errors.js';
import { PROPAGATE_STATES } from './states.js';

export interface ChordMember {
  id: string;
  group: string | null;
  groupIndex: number | null;
  chord: SignatureDict | null;
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
    const reason = isExceptionInfo(failed.result) ? `${failed.result.exc_type}(${JSON.stringify(exceptionMessage(failed.result))})` : String(failed.result);
    await chordError(app, body, new ChordError(`Dependency ${failed.taskId} raised ${reason}`));
    return;
  }
  try {
    await app.signature(body).applyAsync([parts.map((part) => part.result)]);
  } catch (err) {
    app.logger.error(`chord callback for group ${member.group} could not be sent`, { error: (err as Error).message });
    await chordError(app, body, new ChordError(`Callback error: ${(err as Error).message}`));
  }
}

/**
 * Fail a chord body that will not run: store ChordError under the body's id and call its
 * errbacks with that id (Celery's `chord_error_from_stack`).
 */
export async function chordError(app: App, body: SignatureDict, error: ChordError): Promise<void> {
  const sig = app.signature(body);
  const bodyId = sig.id ?? (sig.options['task_id'] as string | undefined);
  app.logger.error(`chord body ${body.task}${bodyId ? `[${bodyId}]` : ''} will not run: ${error.message}`);
  if (bodyId) {
    await app.storeResult(bodyId, 'FAILURE', encodeException(error), { traceback: error.stack ?? null });
  }
  const errbacks = (sig.options['link_error'] as SignatureDict[] | undefined) ?? [];
  for (const errback of errbacks) {
    await app.signature(errback).applyAsync([bodyId ?? null], { ...(bodyId ? { parentId: bodyId, rootId: bodyId } : {}) });
  }
}
