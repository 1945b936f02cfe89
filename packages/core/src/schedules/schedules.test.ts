import { describe, expect, it } from 'vitest';
import { isTqError } from '../errors.js';
import { ManualClock } from './clock.js';
import { crontab, parseCronField } from './crontab.js';
import { toSchedule } from './resolve.js';
import { schedule } from './schedule.js';
import { solar } from './solar.js';
import { instantsOf, wallTime } from './timezone.js';

const at = (iso: string) => new Date(iso).getTime();
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Every run of a schedule in [from, to), starting from a last run at `from`. */
function runs(next: (last: number) => number | null, from: string, to: string): string[] {
  const out: string[] = [];
  let last = at(from);
  for (;;) {
    const n = next(last);
    if (n === null || n >= at(to)) return out;
    out.push(new Date(n).toISOString());
    last = n;
  }
}

describe('crontab fields', () => {
  it("expand Celery's syntax: stars, steps, ranges, wrap-around ranges, lists and names", () => {
    expect(parseCronField('minute', '*/15')).toEqual([0, 15, 30, 45]);
    expect(parseCronField('minute', '1,13,30-45/5,50-59/4')).toEqual([1, 13, 30, 35, 40, 45, 50, 54, 58]);
    expect(parseCronField('hour', '*/4')).toEqual([0, 4, 8, 12, 16, 20]);
    expect(parseCronField('dayOfWeek', 'mon-fri')).toEqual([1, 2, 3, 4, 5]);
    expect(parseCronField('dayOfWeek', 'fri-mon')).toEqual([0, 1, 5, 6]);
    expect(parseCronField('dayOfWeek', 'Sunday,7')).toEqual([0]);
    expect(parseCronField('dayOfMonth', '*/3')).toEqual([1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31]);
    expect(parseCronField('monthOfYear', '2-12/2')).toEqual([2, 4, 6, 8, 10, 12]);
    expect(parseCronField('monthOfYear', 'jan,mar-may')).toEqual([1, 3, 4, 5]);
    expect(parseCronField('minute', '5/20')).toEqual([5, 25, 45]);
    expect(parseCronField('minute', [0, 30])).toEqual([0, 30]);
    expect(parseCronField('hour', 7)).toEqual([7]);
  });

  it('reject bad input with the field and the reason', () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(isTqError(err, 'CONFIGURATION_ERROR')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(message(() => crontab({ minute: '60' }))).toMatch(/minute "60": 60 is outside 0-59/);
    expect(message(() => crontab({ dayOfWeek: 'funday' }))).toMatch(/day_of_week "funday": "funday" is not a number or a name/);
    expect(message(() => crontab({ hour: '*/0' }))).toMatch(/step "0" must be a positive integer/);
    expect(message(() => crontab({ dayOfMonth: 30, monthOfYear: 2 }))).toMatch(/can never run/);
    expect(message(() => crontab('* * *'))).toMatch(/expected five fields/);
    expect(message(() => toSchedule('soon'))).toMatch(/schedule interval must be seconds or a string like/);
    expect(message(() => toSchedule(0))).toMatch(/more than 0 seconds/);
  });
});

describe('crontab next run', () => {
  it('runs every quarter hour in UTC', () => {
    const c = crontab({ minute: '*/15' });
    expect(runs((l) => c.next(l, 'UTC'), '2026-01-01T00:00:00Z', '2026-01-01T01:01:00Z')).toEqual([
      '2026-01-01T00:15:00.000Z',
      '2026-01-01T00:30:00.000Z',
      '2026-01-01T00:45:00.000Z',
      '2026-01-01T01:00:00.000Z',
    ]);
  });

  it('runs at 09:00 on weekdays in the given time zone', () => {
    const c = crontab('0 9 * * mon-fri');
    // 2026-01-02 is a Friday; Berlin is UTC+1 in winter.
    expect(runs((l) => c.next(l, 'Europe/Berlin'), '2026-01-01T12:00:00Z', '2026-01-07T00:00:00Z')).toEqual([
      '2026-01-02T08:00:00.000Z',
      '2026-01-05T08:00:00.000Z',
      '2026-01-06T08:00:00.000Z',
    ]);
  });

  it('needs day of month AND day of week (Celery), and finds rare days', () => {
    // Friday the 13th.
    const c = crontab({ minute: 0, hour: 0, dayOfMonth: 13, dayOfWeek: 'fri' });
    expect(iso(c.next(at('2026-01-01T00:00:00Z'), 'UTC'))).toBe('2026-02-13T00:00:00.000Z');
    // 29 February on a Monday: 2044.
    const leap = crontab({ minute: 0, hour: 12, dayOfMonth: 29, monthOfYear: 'feb', dayOfWeek: 'mon' });
    expect(iso(leap.next(at('2026-01-01T00:00:00Z'), 'UTC'))).toBe('2044-02-29T12:00:00.000Z');
  });

  it('skips a wall time that does not exist (Europe/Berlin springs forward at 02:00 on 29 March 2026)', () => {
    expect(instantsOf({ year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin')).toEqual([]);
    const daily = crontab({ minute: 30, hour: 2 });
    expect(runs((l) => daily.next(l, 'Europe/Berlin'), '2026-03-27T12:00:00Z', '2026-03-30T12:00:00Z')).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      // 29 March: no 02:30, no run.
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    const everyQuarter = crontab({ minute: '*/15' });
    expect(runs((l) => everyQuarter.next(l, 'Europe/Berlin'), '2026-03-29T00:40:00Z', '2026-03-29T01:20:00Z')).toEqual([
      '2026-03-29T00:45:00.000Z', // 01:45 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, right after 01:59:59 CET
      '2026-03-29T01:15:00.000Z',
    ]);
  });

  it('runs a wall time that happens twice only once (Europe/Berlin falls back at 03:00 on 25 October 2026)', () => {
    expect(instantsOf({ year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin').map(iso)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:30:00.000Z',
    ]);
    const daily = crontab({ minute: 30, hour: 2 });
    expect(runs((l) => daily.next(l, 'Europe/Berlin'), '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z')).toEqual([
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST)
      '2026-10-26T01:30:00.000Z', // not the second 02:30 (CET): the next day's
    ]);
    const half = crontab({ minute: '0,30' });
    expect(runs((l) => half.next(l, 'Europe/Berlin'), '2026-10-24T23:45:00Z', '2026-10-25T02:10:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      // 02:00 and 02:30 CET are the same wall times again: not repeated.
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('honours its own time zone over the one beat passes', () => {
    const c = crontab({ minute: 0, hour: 9, timezone: 'America/New_York' });
    expect(iso(c.next(at('2026-07-01T00:00:00Z'), 'Europe/Berlin'))).toBe('2026-07-01T13:00:00.000Z');
    expect(c.definition('UTC')).toBe('crontab:0 9 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31 1,2,3,4,5,6,7,8,9,10,11,12 0,1,2,3,4,5,6@America/New_York');
  });
});

describe('intervals and solar events', () => {
  it('intervals take seconds or durations', () => {
    expect(schedule(90).next(at('2026-01-01T00:00:00Z'))).toBe(at('2026-01-01T00:01:30Z'));
    expect(toSchedule('5m').next(0, 'UTC')).toBe(300_000);
    expect(toSchedule('*/5 * * * *').kind).toBe('crontab');
    expect(String(schedule('2h'))).toBe('every 2h');
  });

  it('finds sunrise, solar noon and sunset within a couple of minutes of published times', () => {
    // Berlin (52.52N, 13.405E), 21 June 2026: sunrise 04:43, noon 13:07, sunset 21:33 CEST (timeanddate.com).
    const from = at('2026-06-20T22:00:00Z');
    const near = (value: number | null, expected: string) => expect(Math.abs(value! - at(expected))).toBeLessThan(3 * 60_000);
    near(solar('sunrise', 52.52, 13.405).next(from), '2026-06-21T02:43:00Z');
    near(solar('solar_noon', 52.52, 13.405).next(from), '2026-06-21T11:07:30Z');
    near(solar('sunset', 52.52, 13.405).next(from), '2026-06-21T19:33:00Z');
    // Dawn comes before sunrise, dusk after sunset.
    expect(solar('dawn_civil', 52.52, 13.405).next(from)!).toBeLessThan(solar('sunrise', 52.52, 13.405).next(from)!);
    expect(solar('dusk_astronomical', 40, 0).next(from)!).toBeGreaterThan(solar('sunset', 40, 0).next(from)!);
  });

  it('skips days without the event near the poles, and validates its arguments', () => {
    // Tromsø has no sunset from late May to late July.
    const sunset = solar('sunset', 69.65, 18.96).next(at('2026-06-01T00:00:00Z'))!;
    expect(sunset).toBeGreaterThan(at('2026-07-15T00:00:00Z'));
    expect(() => solar('moonrise' as never, 0, 0)).toThrow(/must be one of dawn_astronomical/);
    expect(() => solar('sunset', 91, 0)).toThrow(/latitude 91/);
  });
});

describe('wall time and the manual clock', () => {
  it('reads wall time in a zone', () => {
    expect(wallTime(at('2026-07-01T12:34:56Z'), 'Asia/Kolkata')).toEqual({ year: 2026, month: 7, day: 1, hour: 18, minute: 4, second: 56, weekday: 3 });
  });

  it('wakes sleepers in time order and waits for each loop to sleep again', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const seen: string[] = [];
    const controller = new AbortController();
    const loop = async (name: string, every: number) => {
      while (!controller.signal.aborted) {
        await clock.sleep(every, controller.signal);
        if (controller.signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 1)); // real I/O between wakeups
        seen.push(`${name}@${clock.now() - at('2026-01-01T00:00:00Z')}`);
      }
    };
    const loops = [loop('a', 1000), loop('b', 1500)];
    await clock.advance(3000);
    // At 3000 both are due; b went to sleep first (at 1500), so it wakes first.
    expect(seen).toEqual(['a@1000', 'b@1500', 'a@2000', 'b@3000', 'a@3000']);
    controller.abort();
    await Promise.all(loops);
    expect(clock.pending).toBe(0);
  });
});
