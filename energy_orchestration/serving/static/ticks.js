// Even time-axis ticks in a zone's local time: whole local hours (1, 2, 3, 6 or 12 apart),
// local midnights, Mondays, or month starts, depending on the span. Ticks are found by walking
// the local calendar and converting back to UTC, so a 23- or 25-hour DST day still gets its
// ticks at local 00:00/06:00/12:00/18:00 (unevenly spaced in UTC, evenly on the wall clock).
// Plain functions, no Chart.js: the browser test calls evenTicks() directly.
"use strict";

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;
const MAX_TICKS = 9; // at most about this many ticks on a wide axis
const partsFormatters = new Map();

// The local wall-clock fields of an instant in a time zone.
function localParts(ms, timeZone) {
  if (!partsFormatters.has(timeZone)) {
    partsFormatters.set(timeZone, new Intl.DateTimeFormat("en-GB", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", weekday: "short",
    }));
  }
  const out = {};
  for (const p of partsFormatters.get(timeZone).formatToParts(ms)) out[p.type] = p.value;
  return { year: +out.year, month: +out.month, day: +out.day, hour: +out.hour, minute: +out.minute,
           weekday: out.weekday };
}

// The UTC instant of a local wall-clock time (the first one, if it occurs twice).
function localToUtc(year, month, day, hour, timeZone) {
  const wall = Date.UTC(year, month - 1, day, hour);
  const offsetAt = (ms) => { const p = localParts(ms, timeZone); return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - ms; };
  const first = wall - offsetAt(wall);
  return wall - offsetAt(first); // a second pass corrects a guess made on the other side of a DST change
}

// Calendar stepping on local dates (pure date arithmetic, no time zone involved).
function addDays(y, m, d, n) { const t = new Date(Date.UTC(y, m - 1, d + n)); return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()]; }

// { unit, step, values: [epoch ms] } for an axis from minMs to maxMs, at most about maxTicks.
function evenTicks(minMs, maxMs, timeZone, maxTicks = MAX_TICKS) {
  const limit = Math.max(3, Math.min(MAX_TICKS, maxTicks));
  const span = maxMs - minMs;
  if (!(span > 0)) return { unit: "hour", step: 1, values: [] };
  const hours = span / HOUR_MS;
  if (hours <= limit * 12) {
    const step = [1, 2, 3, 6, 12].find((s) => hours / s <= limit) || 12;
    const values = [];
    for (let t = Math.ceil(minMs / HOUR_MS) * HOUR_MS; t <= maxMs; t += HOUR_MS) {
      const p = localParts(t, timeZone);
      if (p.minute === 0 && p.hour % step === 0) values.push(t);
    }
    return { unit: "hour", step, values };
  }
  const days = span / DAY_MS;
  const start = localParts(minMs, timeZone);
  let [y, m, d] = [start.year, start.month, start.day];
  const values = [];
  const push = () => { const t = localToUtc(y, m, d, 0, timeZone); if (t >= minMs && t <= maxMs) values.push(t); return t; };
  if (days <= limit * 2) {
    const step = days <= limit ? 1 : 2;
    for (let t = 0; t <= maxMs; [y, m, d] = addDays(y, m, d, 1)) {
      const dayIndex = Math.round(Date.UTC(y, m - 1, d) / DAY_MS);
      if (dayIndex % step === 0) t = push(); else t = localToUtc(y, m, d, 0, timeZone);
    }
    return { unit: "day", step, values };
  }
  if (days <= limit * 7 * 2) {
    const step = days <= limit * 7 ? 1 : 2;
    const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay(); // 0 = Sunday
    [y, m, d] = addDays(y, m, d, (8 - weekday) % 7); // the next Monday (or today if Monday)
    for (let t = 0, i = 0; t <= maxMs; [y, m, d] = addDays(y, m, d, 7), i += 1) {
      if (i % step === 0) t = push(); else t = localToUtc(y, m, d, 0, timeZone);
    }
    return { unit: "week", step, values };
  }
  const months = days / 30.44;
  const step = [1, 2, 3, 6, 12].find((s) => months / s <= limit) || 12;
  d = 1;
  for (let t = 0; t <= maxMs; m += 1) {
    if (m > 12) { m = 1; y += 1; }
    if ((m - 1) % step === 0) t = push(); else t = localToUtc(y, m, d, 0, timeZone);
  }
  return { unit: "month", step, values };
}

const labelFormatters = new Map();
// A tick's label: the time of day for hour ticks (the date at midnight), day and month for
// day/week ticks, month and year for month ticks.
function tickLabel(ms, unit, timeZone) {
  const key = `${timeZone}|${unit}`;
  if (!labelFormatters.has(key)) {
    const options = {
      hour: { hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
      day: { weekday: "short", day: "numeric", month: "short" },
      week: { day: "numeric", month: "short" },
      month: { month: "short", year: "numeric" },
      midnight: { day: "numeric", month: "short" },
    }[unit];
    labelFormatters.set(key, new Intl.DateTimeFormat("en-GB", { timeZone, ...options }));
  }
  if (unit === "hour") {
    const p = localParts(ms, timeZone);
    if (p.hour === 0 && p.minute === 0) return tickLabel(ms, "midnight", timeZone);
  }
  return labelFormatters.get(key).format(ms);
}

window.evenTicks = evenTicks;
window.tickLabel = tickLabel;
window.localToUtc = localToUtc;
window.localParts = localParts;
