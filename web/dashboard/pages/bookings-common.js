// What the Bookings pages share: their links, the schedule API's base, and wall-clock arithmetic in
// the business's time zone (a booking is shown at the time the business keeps, whatever the
// browser's own zone is).

import { get } from "../api.js";
import { showError } from "../dom.js";

export const SCHEDULE = "/api/langgraph/schedule";
export const CALENDARS = "/api/langgraph/calendars";

export const WEEKDAYS = [
  { iso: 1, label: "Monday", short: "Mon" },
  { iso: 2, label: "Tuesday", short: "Tue" },
  { iso: 3, label: "Wednesday", short: "Wed" },
  { iso: 4, label: "Thursday", short: "Thu" },
  { iso: 5, label: "Friday", short: "Fri" },
  { iso: 6, label: "Saturday", short: "Sat" },
  { iso: 7, label: "Sunday", short: "Sun" },
];

/** A Bookings tab's hash, keeping the chosen bot and any extra query (`week=`, filters). */
export function bookingsHref(tab, botId, extra = {}) {
  const base = tab === "list" ? "#/bookings" : `#/bookings/${tab}`;
  const params = new URLSearchParams();
  if (botId) params.set("bot_id", botId);
  for (const [key, value] of Object.entries(extra)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `${base}?${text}` : base;
}

/** Every IANA zone the browser knows (for the time-zone field's suggestions). */
export function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"];
  }
}

export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const partsFormatters = new Map();
function partsFormatter(zone) {
  if (!partsFormatters.has(zone)) {
    partsFormatters.set(
      zone,
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        weekday: "short",
      }),
    );
  }
  return partsFormatters.get(zone);
}

const ISO_WEEKDAY = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** The wall clock in `zone` at an instant: {year, month, day, hour, minute, weekday (1 Monday … 7)}. */
export function zonedParts(instant, zone) {
  const parts = {};
  for (const { type, value } of partsFormatter(zone).formatToParts(new Date(instant))) parts[type] = value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    weekday: ISO_WEEKDAY[parts.weekday],
  };
}

function offsetMs(ms, zone) {
  const p = zonedParts(ms, zone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
  return asUtc - Math.floor(ms / 60_000) * 60_000;
}

/** The instant (a Date) when the wall clock in `zone` shows that date and time. */
export function zonedToDate(year, month, day, hour, minute, zone) {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  let ms = guess - offsetMs(guess, zone);
  const second = guess - offsetMs(ms, zone); // across a DST change the first guess's offset is the other one
  if (second !== ms) ms = second;
  return new Date(ms);
}

/** "YYYY-MM-DD" of a civil date (month 1-12). */
export function isoDate(year, month, day) {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.toISOString().slice(0, 10);
}

/** A civil date moved by `days`: [year, month, day]. */
export function addDays(year, month, day, days) {
  const d = new Date(Date.UTC(year, month - 1, day + days));
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}

/** The Monday of the week holding "YYYY-MM-DD" (or today in `zone`): [year, month, day]. */
export function weekStart(dateText, zone) {
  let y, m, d;
  if (dateText && /^\d{4}-\d{2}-\d{2}$/.test(dateText)) [y, m, d] = dateText.split("-").map(Number);
  else ({ year: y, month: m, day: d } = zonedParts(Date.now(), zone));
  const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // 0 Monday
  return addDays(y, m, d, -weekday);
}

const formatters = new Map();
function formatter(zone, options) {
  const key = `${zone}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options }));
  return formatters.get(key);
}

/** "Tue, 9 Dec 2026, 10:00" in `zone`. */
export function fmtZoned(iso, zone) {
  if (!iso) return "—";
  return formatter(zone, { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

/** "10:00" in `zone`. */
export function fmtClock(iso, zone) {
  return formatter(zone, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

/** "Mon 7 Dec" for a civil date. */
export function fmtDay(year, month, day) {
  return formatter("UTC", { weekday: "short", day: "numeric", month: "short" }).format(new Date(Date.UTC(year, month - 1, day)));
}

/** "HH:MM" → minutes since midnight. */
export function minutesOf(text) {
  const [hh, mm] = String(text).split(":").map(Number);
  return hh * 60 + (mm || 0);
}

export const STATUS_TONE = { booked: "ok", cancelled: "muted" };
export const CALENDAR_KIND = { caldav: "CalDAV", google: "Google Calendar", outlook: "Outlook" };

/** A bot's booking settings (`configured` false: never set up, these are the defaults), or null. */
export async function loadBookingSettings(ctx, botId) {
  try {
    return await get(`${SCHEDULE}/settings/${botId}`, { signal: ctx.signal });
  } catch (error) {
    showError(error, { context: "Could not load the booking settings" });
    return null;
  }
}
