import { describe, expect, it } from 'vitest';
import { pyJsonDumps } from './python-json.js';
import { createResultMeta, encodeException, exceptionMessage, validateResultMeta } from './result-meta.js';

describe('result meta', () => {
  it("keeps Celery's key order (captured celery-task-meta with result_extended)", () => {
    const meta = createResultMeta({
      taskId: '1111',
      status: 'SUCCESS',
      result: 5,
      dateDone: new Date('2026-11-23T23:00:49.362Z'),
      extended: { name: 'proj.add', args: [2, 3], kwargs: {}, worker: 'w1@vm', retries: 0, queue: 'celery' },
    });
    expect(pyJsonDumps(meta)).toBe(
      '{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-23T23:00:49.362000+00:00", ' +
        '"name": "proj.add", "args": [2, 3], "kwargs": {}, "worker": "w1@vm", "retries": 0, "queue": "celery", "task_id": "1111"}',
    );
  });

  it('puts group_id and parent_id between date_done and task_id', () => {
    const meta = createResultMeta({ taskId: 't', status: 'PENDING', result: null, groupId: 'g', parentId: 'p' });
    expect(Object.keys(meta)).toEqual(['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'parent_id', 'task_id']);
  });

  it("encodes errors as Celery does, mapping JavaScript names onto Python's builtins", () => {
    expect(encodeException(new TypeError('bad value 7'))).toEqual({ exc_type: 'TypeError', exc_message: ['bad value 7'], exc_module: 'builtins' });
    expect(encodeException(new Error('plain'))).toEqual({ exc_type: 'Exception', exc_message: ['plain'], exc_module: 'builtins' });
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    expect(encodeException(new PaymentDeclined('card'))).toEqual({ exc_type: 'PaymentDeclined', exc_message: ['card'], exc_module: null });
    const revoked = Object.assign(new Error('revoked'), { excType: 'TaskRevokedError', excModule: 'celery.exceptions' });
    expect(encodeException(revoked)).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['revoked'], exc_module: 'celery.exceptions' });
    expect(encodeException('a string')).toEqual({ exc_type: 'Exception', exc_message: ['a string'], exc_module: 'builtins' });
  });

  it('prints exception messages as Python str() would', () => {
    expect(exceptionMessage({ exc_type: 'ValueError', exc_message: ['bad value 7'], exc_module: 'builtins' })).toBe('bad value 7');
    expect(exceptionMessage({ exc_type: 'KeyError', exc_message: [], exc_module: 'builtins' })).toBe('');
  });

  it('reads meta written by Python, filling what older versions left out', () => {
    const meta = validateResultMeta({ status: 'SUCCESS', result: 5, traceback: null, children: [], date_done: '2026-11-23T23:00:49.362175' }, 'x');
    expect(meta.task_id).toBe('x');
    expect(() => validateResultMeta({ result: 1 }, 'y')).toThrow(/no status/);
  });
});
