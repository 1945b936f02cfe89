/**
 * Solar schedules, as Celery's `solar(event, lat, lon)`: run at sunrise, sunset, solar noon or a
 * twilight boundary at a place. Celery computes them with the `ephem` library; this uses the
 * NOAA sunrise equation, which agrees to within about a minute away from the poles. As in
 * Celery, sunrise and sunset are when the sun's upper limb crosses the horizon without
 * refraction correction (-0°34′, i.e. the centre at -0.833°), dawn and dusk are when the centre
 * crosses -6° (civil), -12° (nautical) or -18° (astronomical). Where the sun does not rise or
 * set that day (polar day or night), the day is skipped.
 */
import { ConfigurationError } from '../errors.js';
import type { Schedule } from './schedule.js';

export type SolarEvent =
  | 'dawn_astronomical'
  | 'dawn_nautical'
  | 'dawn_civil'
  | 'sunrise'
  | 'solar_noon'
  | 'sunset'
  | 'dusk_civil'
  | 'dusk_nautical'
  | 'dusk_astronomical';

/** Altitude of the sun's centre at the event, and whether it is the rising (-1) or setting (+1) crossing. */
const EVENTS: Record<SolarEvent, { altitude: number; side: -1 | 0 | 1 }> = {
  dawn_astronomical: { altitude: -18, side: -1 },
  dawn_nautical: { altitude: -12, side: -1 },
  dawn_civil: { altitude: -6, side: -1 },
  sunrise: { altitude: -0.833, side: -1 },
  solar_noon: { altitude: 0, side: 0 },
  sunset: { altitude: -0.833, side: 1 },
  dusk_civil: { altitude: -6, side: 1 },
  dusk_nautical: { altitude: -12, side: 1 },
  dusk_astronomical: { altitude: -18, side: 1 },
};

const RAD = Math.PI / 180;
const J2000 = 2451545.0;
const UNIX_EPOCH_JD = 2440587.5;

function toJulian(ms: number): number {
  return ms / 86_400_000 + UNIX_EPOCH_JD;
}

function fromJulian(jd: number): number {
  return Math.round((jd - UNIX_EPOCH_JD) * 86_400_000);
}

/** The event on the solar day numbered `n` (days since J2000), or null when it does not happen. */
function eventOnDay(n: number, event: SolarEvent, lat: number, lon: number): number | null {
  const { altitude, side } = EVENTS[event];
  const meanSolarTime = n - lon / 360;
  const anomaly = (((357.5291 + 0.98560028 * meanSolarTime) % 360) + 360) % 360;
  const m = anomaly * RAD;
  const center = 1.9148 * Math.sin(m) + 0.02 * Math.sin(2 * m) + 0.0003 * Math.sin(3 * m);
  const eclipticLongitude = (((anomaly + center + 180 + 102.9372) % 360 + 360) % 360) * RAD;
  const transit = J2000 + meanSolarTime + 0.0053 * Math.sin(m) - 0.0069 * Math.sin(2 * eclipticLongitude);
  if (side === 0) return fromJulian(transit);
  const declination = Math.asin(Math.sin(eclipticLongitude) * Math.sin(23.4397 * RAD));
  const phi = lat * RAD;
  const cosHourAngle = (Math.sin(altitude * RAD) - Math.sin(phi) * Math.sin(declination)) / (Math.cos(phi) * Math.cos(declination));
  if (cosHourAngle < -1 || cosHourAngle > 1) return null;
  const hourAngle = Math.acos(cosHourAngle) / RAD;
  return fromJulian(transit + (side * hourAngle) / 360);
}

export class Solar implements Schedule {
  readonly kind = 'solar';

  constructor(
    readonly event: SolarEvent,
    readonly lat: number,
    readonly lon: number,
  ) {
    if (!(event in EVENTS)) {
      throw new ConfigurationError(`invalid solar event ${JSON.stringify(event)}: must be one of ${Object.keys(EVENTS).sort().join(', ')}`);
    }
    if (typeof lat !== 'number' || !(lat >= -90 && lat <= 90)) throw new ConfigurationError(`invalid solar latitude ${lat}: must be between -90 and 90`);
    if (typeof lon !== 'number' || !(lon >= -180 && lon <= 180)) throw new ConfigurationError(`invalid solar longitude ${lon}: must be between -180 and 180`);
  }

  definition(): string {
    return `solar:${this.event}:${this.lat}:${this.lon}`;
  }

  next(last: number): number | null {
    const first = Math.floor(toJulian(last) - J2000) - 1;
    // A polar night lasts at most about six months; look a little over a year ahead.
    for (let n = first; n < first + 400; n++) {
      const at = eventOnDay(n, this.event, this.lat, this.lon);
      if (at !== null && at > last) return at;
    }
    return null;
  }

  toString(): string {
    return `<solar: ${this.event} at latitude ${this.lat}, longitude: ${this.lon}>`;
  }
}

/** Run at a solar event at a place (Celery's `solar(event, lat, lon)`); longitude east positive. */
export function solar(event: SolarEvent, lat: number, lon: number): Solar {
  return new Solar(event, lat, lon);
}
