/**
 * Values for the Python types that kombu's JSON carries and JavaScript lacks: a calendar date,
 * a time of day, a decimal and a UUID. Python's `datetime` maps to a JavaScript `Date` and
 * `bytes` to a `Uint8Array`, so they need no class here.
 *
 * Each keeps the exact text Python wrote, so a value that goes through tq unchanged goes back
 * to Python unchanged.
 */

/** A Python `datetime.date`, kept as its ISO text (`2026-11-23`). */
export class PyDate {
  constructor(readonly iso: string) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(iso)) throw new TypeError(`not an ISO date: ${iso}`);
  }
  static fromDate(date: Date): PyDate {
    return new PyDate(date.toISOString().slice(0, 10));
  }
  toString(): string {
    return this.iso;
  }
  toJSON(): string {
    return this.iso;
  }
}

/** A Python `datetime.time`, kept as its ISO text (`23:00:48.436499`). */
export class PyTime {
  constructor(readonly iso: string) {
    if (!/^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2})?$/.test(iso)) throw new TypeError(`not an ISO time: ${iso}`);
  }
  toString(): string {
    return this.iso;
  }
  toJSON(): string {
    return this.iso;
  }
}

/** A Python `decimal.Decimal`, kept as its exact decimal text (`"1.10"`). */
export class PyDecimal {
  constructor(readonly value: string) {
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|NaN|sNaN)$/.test(value)) {
      throw new TypeError(`not a decimal: ${value}`);
    }
  }
  toNumber(): number {
    return Number(this.value);
  }
  toString(): string {
    return this.value;
  }
  toJSON(): string {
    return this.value;
  }
}

/** A Python `uuid.UUID`. Kombu writes it as `{"hex": ..., "version": ...}`. */
export class PyUUID {
  readonly hex: string;
  readonly version: number | null;
  constructor(value: string, version?: number | null) {
    const hex = value.replace(/^urn:uuid:/, '').replace(/[{}-]/g, '').toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new TypeError(`not a UUID: ${value}`);
    this.hex = hex;
    this.version = version ?? (Number.parseInt(hex[12] ?? '0', 16) || null);
  }
  toString(): string {
    const h = this.hex;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  toJSON(): string {
    return this.toString();
  }
}
