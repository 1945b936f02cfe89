/**
 * The opt-in chord counter (`chordCounter: true`, every worker tq): header completions join the
 * chord in `celery_groupmeta`, without Celery's `celery.chord_unlock` polling task.
 *
 *   <gid>.s          {size}                   set when the chord is applied
 *   <gid>.t.<uuid>   {chord: gid, count}      parts added to a running chord (Celery's `.t`)
 *   <gid>.j.<tid>    {chord: gid, index, task_id, state, result}   one per finished header task
 *   <gid>.done       {}                       the completion, claimed by exactly one caller
 *
 * Each header inserts its own document, then counts; the caller whose count reaches the size
 * claims `<gid>.done`, and a unique `_id` lets exactly one claim succeed. Only inserts decide,
 * never read-modify-write updates: a `findOneAndUpdate` counter (`$inc`, `$push`) would be as
 * good on MongoDB, but FerretDB v1 applies those non-atomically (25 concurrent `$inc`s returned
 * duplicated counts and lost updates), while its unique-key inserts hold. A header redelivered
 * after it finished inserts the same `_id` again and is counted once.
 * Every document carries `date_done`, so Celery's `backend_cleanup` (and the TTL index) remove
 * what a chord that never completes leaves behind; a completed chord keeps only `<gid>.done`.
 */
import type { ChordPart } from '@tq/core';
import { pyJsonDumps, pyJsonLoads } from '@tq/protocol';
import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import { isDuplicateKey } from './errors.js';

type ErrorFor = (what: string, err: unknown) => Error;

/** Any document of the collection: counter documents have string ids like Celery's own. */
export interface CounterDocument {
  _id: string;
  [field: string]: unknown;
}

interface PartDocument extends CounterDocument {
  _id: string;
  chord: string;
  index: number;
  task_id: string;
  state: string;
  result: string;
  date_done: Date;
}

export class ChordCounter {
  constructor(
    private readonly groups: Collection<CounterDocument>,
    private readonly error: ErrorFor,
  ) {}

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(what, err);
    }
  }

  setSize(groupId: string, size: number): Promise<void> {
    return this.run(`could not record the size of chord ${groupId} on`, async () => {
      await this.groups.replaceOne({ _id: `${groupId}.s` }, { size, date_done: new Date() }, { upsert: true });
    });
  }

  add(groupId: string, count: number): Promise<void> {
    return this.run(`could not add to chord ${groupId} on`, async () => {
      await this.groups.insertOne({ _id: `${groupId}.t.${randomUUID()}`, chord: groupId, count, date_done: new Date() });
    });
  }

  partReturn(groupId: string, part: ChordPart, size?: number): Promise<ChordPart[] | null> {
    return this.run(`could not join chord ${groupId} on`, async () => {
      const doc: PartDocument = {
        _id: `${groupId}.j.${part.taskId}`,
        chord: groupId,
        index: part.index,
        task_id: part.taskId,
        state: part.state,
        result: pyJsonDumps(part.result),
        date_done: new Date(),
      };
      try {
        await this.groups.insertOne(doc);
      } catch (err) {
        if (isDuplicateKey(err)) return null;
        throw err;
      }
      const [sized, extras, count] = await Promise.all([
        this.groups.findOne({ _id: `${groupId}.s` }),
        this.groups.find({ chord: groupId, count: { $exists: true } }).toArray(),
        this.groups.countDocuments({ chord: groupId, task_id: { $exists: true } }),
      ]);
      const base = typeof sized?.['size'] === 'number' ? (sized['size'] as number) : size;
      if (base === undefined) return null;
      const total = base + extras.reduce((sum, d) => sum + (typeof d['count'] === 'number' ? (d['count'] as number) : 0), 0);
      if (count < total) return null;
      try {
        await this.groups.insertOne({ _id: `${groupId}.done`, date_done: new Date() });
      } catch (err) {
        if (isDuplicateKey(err)) return null;
        throw err;
      }
      const parts = (await this.groups.find({ chord: groupId, task_id: { $exists: true } }).toArray()) as unknown as PartDocument[];
      await this.groups.deleteMany({ $or: [{ chord: groupId }, { _id: `${groupId}.s` }] });
      return parts
        .map((p) => ({ index: p.index, taskId: p.task_id, state: p.state, result: pyJsonLoads(p.result) }))
        .sort((a, b) => a.index - b.index);
    });
  }
}
