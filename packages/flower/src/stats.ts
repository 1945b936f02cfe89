/**
 * Time series for the UI's graphs, kept in bounded memory: finished tasks per minute,
 * runtime and wait (received → started) samples for percentiles, and queue depth samples.
 */

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface StatsJson {
  throughput: Array<{ t: number; succeeded: number; failed: number }>;
  runtime: Percentiles;
  wait: Percentiles;
  queueDepth: Array<{ t: number; queue: string; depth: number }>;
}

/** A fixed-size ring of (time, value) samples. */
class SampleRing {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  private next = 0;
  private size = 0;

  constructor(capacity: number) {
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  push(t: number, value: number): void {
    this.times[this.next] = t;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.times.length;
    if (this.size < this.times.length) this.size++;
  }

  since(t: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.times[i]! >= t) out.push(this.values[i]!);
    return out;
  }
}

function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: null, p90: null, p99: null };
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

const DAY_MINUTES = 24 * 60;

export class Stats {
  /** Minute (epoch s, floored) → counts; at most a day of minutes. */
  private readonly minutes = new Map<number, { succeeded: number; failed: number }>();
  private readonly runtimes = new SampleRing(20_000);
  private readonly waits = new SampleRing(20_000);
  private readonly depths: Array<{ t: number; queue: string; depth: number }> = [];
  private readonly maxDepthSamples = 20_000;

  private bucket(t: number): { succeeded: number; failed: number } {
    const minute = Math.floor(t / 60) * 60;
    let b = this.minutes.get(minute);
    if (!b) {
      b = { succeeded: 0, failed: 0 };
      this.minutes.set(minute, b);
      if (this.minutes.size > DAY_MINUTES) this.minutes.delete(this.minutes.keys().next().value!);
    }
    return b;
  }

  succeeded(t: number, runtime: number | null): void {
    this.bucket(t).succeeded++;
    if (runtime !== null && Number.isFinite(runtime)) this.runtimes.push(t, runtime);
  }

  failed(t: number): void {
    this.bucket(t).failed++;
  }

  started(t: number, waited: number | null): void {
    if (waited !== null && Number.isFinite(waited) && waited >= 0) this.waits.push(t, waited);
  }

  queueDepth(t: number, queue: string, depth: number): void {
    this.depths.push({ t, queue, depth });
    if (this.depths.length > this.maxDepthSamples) this.depths.splice(0, this.depths.length - this.maxDepthSamples);
  }

  /** The last `minutes` minutes, one throughput point per minute (zeros included). */
  toJson(minutes: number, now: number): StatsJson {
    const from = Math.floor(now / 60) * 60 - (minutes - 1) * 60;
    const throughput: StatsJson['throughput'] = [];
    for (let t = from; t <= now; t += 60) {
      const b = this.minutes.get(t);
      throughput.push({ t, succeeded: b?.succeeded ?? 0, failed: b?.failed ?? 0 });
    }
    return {
      throughput,
      runtime: percentiles(this.runtimes.since(from)),
      wait: percentiles(this.waits.since(from)),
      queueDepth: this.depths.filter((d) => d.t >= from),
    };
  }
}
