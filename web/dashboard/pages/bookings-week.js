// One bot's week in its built-in calendar, at the business's time: opening hours, closed days, the
// appointments and the busy times the owner blocked (added and removed here). A CSS grid: a column
// per day, blocks placed by their minutes through the CSSOM (the CSP refuses style attributes).

import { del, get, post } from "../api.js";
import { add, confirmAction, field, h, mount, run, showError } from "../dom.js";
import { SCHEDULE, WEEKDAYS, addDays, bookingsHref, browserZone, fmtClock, fmtDay, fmtZoned, isoDate, loadBookingSettings, minutesOf, weekStart, zonedParts, zonedToDate } from "./bookings-common.js";
import { rescheduleDialog } from "./bookings-list.js";

const DEFAULT_FIRST_HOUR = 8;
const DEFAULT_LAST_HOUR = 18;

export default async function renderWeek(root, ctx, { bot }) {
  const settings = await loadBookingSettings(ctx, bot.id);
  const zone = (settings && settings.configured && settings.time_zone) || browserZone();
  const [y, m, d] = weekStart(ctx.query.get("week"), zone);
  const days = WEEKDAYS.map((day, i) => {
    const [dy, dm, dd] = addDays(y, m, d, i);
    return { ...day, year: dy, month: dm, day: dd, iso_date: isoDate(dy, dm, dd), start: zonedToDate(dy, dm, dd, 0, 0, zone), end: zonedToDate(...addDays(dy, dm, dd, 1), 0, 0, zone) };
  });
  const from = days[0].start.toISOString();
  const to = days[6].end.toISOString();
  const today = zonedParts(Date.now(), zone);
  const todayIso = isoDate(today.year, today.month, today.day);

  const nav = h(
    "div",
    { class: "row tight week-nav" },
    h("a", { class: "button", href: bookingsHref("week", bot.id, { week: isoDate(...addDays(y, m, d, -7)) }), "data-testid": "week-previous", "aria-label": "Previous week" }, "← Previous"),
    h("a", { class: "button", href: bookingsHref("week", bot.id), "data-testid": "week-today" }, "This week"),
    h("a", { class: "button", href: bookingsHref("week", bot.id, { week: isoDate(...addDays(y, m, d, 7)) }), "data-testid": "week-next", "aria-label": "Next week" }, "Next →"),
    h("strong", { class: "week-title", "data-testid": "week-title" }, `${fmtDay(y, m, d)} – ${fmtDay(days[6].year, days[6].month, days[6].day)} ${days[6].year}`),
    h("span", { class: "muted" }, `Times in ${zone}`),
  );
  const grid = h("div", { class: "week", "data-testid": "week-grid", role: "grid", "aria-label": "The week's appointments and busy times" });
  add(root, nav, settings && settings.configured ? null : h("p", { class: "notice info" }, "This bot does not book yet: set its hours on the Booking settings tab."), grid);

  let appointments = [];
  let busy = [];
  let closures = [];
  let resources = [];
  const load = async () => {
    try {
      [appointments, busy, closures, resources] = await Promise.all([
        get(`${SCHEDULE}/bookings`, { query: { bot_id: bot.id, from, to, status: "booked", limit: 500 }, signal: ctx.signal }),
        get(`${SCHEDULE}/busy`, { query: { bot_id: bot.id, from, to }, signal: ctx.signal }),
        get(`${SCHEDULE}/closures`, { query: { bot_id: bot.id }, signal: ctx.signal }),
        get(`${SCHEDULE}/resources`, { query: { bot_id: bot.id }, signal: ctx.signal }),
      ]);
    } catch (error) {
      mount(grid, h("p", { class: "muted" }, "The week could not be loaded."));
      return showError(error, { context: "Could not load the week" });
    }
    draw();
  };

  const draw = () => {
    const hours = (settings && settings.configured && settings.hours) || {};
    let first = DEFAULT_FIRST_HOUR * 60;
    let last = DEFAULT_LAST_HOUR * 60;
    for (const spans of Object.values(hours)) {
      for (const [a, b] of spans) {
        first = Math.min(first, minutesOf(a));
        last = Math.max(last, minutesOf(b));
      }
    }
    const placed = [];
    for (const a of appointments) placed.push({ kind: "appointment", item: a, start: a.starts_at, end: a.ends_at });
    for (const b of busy) placed.push({ kind: "busy", item: b, start: b.starts_at, end: b.ends_at });
    // Extend the grid to whatever lies outside the hours (a busy block at 7:00, a booking moved late).
    for (const p of placed) {
      for (const day of days) {
        const s = Math.max(new Date(p.start), day.start);
        const e = Math.min(new Date(p.end), day.end);
        if (e <= s) continue;
        first = Math.min(first, Math.floor(((s - day.start) / 60_000) / 60) * 60);
        last = Math.max(last, Math.ceil(((e - day.start) / 60_000) / 60) * 60);
      }
    }
    first = Math.floor(first / 60) * 60;
    last = Math.min(24 * 60, Math.ceil(last / 60) * 60);
    const span = last - first;
    const pct = (minutes) => `${((minutes - first) / span) * 100}%`;
    const rows = (last - first) / 60;

    const gutter = h("div", { class: "week-gutter", "aria-hidden": "true" });
    for (let hour = first / 60; hour < last / 60; hour++) {
      const label = h("span", { class: "week-hour" }, `${String(hour).padStart(2, "0")}:00`);
      label.style.top = pct(hour * 60);
      gutter.append(label);
    }
    const columns = days.map((day) => {
      const closure = closures.find((c) => c.starts_on <= day.iso_date && day.iso_date <= c.ends_on);
      const head = h(
        "div",
        { class: ["week-day-head", day.iso_date === todayIso && "today"], role: "columnheader" },
        fmtDay(day.year, day.month, day.day),
        closure ? h("span", { class: "tag tag-warn", "data-testid": "week-closed" }, `Closed${closure.reason ? `: ${closure.reason}` : ""}`) : null,
      );
      const body = h("div", { class: ["week-day", closure && "closed"], "data-testid": "week-day", "data-date": day.iso_date, role: "gridcell" });
      body.style.setProperty("--rows", String(rows));
      if (!closure) {
        for (const [a, b] of hours[day.iso] || hours[String(day.iso)] || []) {
          const open = h("div", { class: "week-open", "aria-hidden": "true" });
          open.style.top = pct(minutesOf(a));
          open.style.height = `${((minutesOf(b) - minutesOf(a)) / span) * 100}%`;
          body.append(open);
        }
      }
      // Overlapping blocks (two resources at once) share the column in lanes.
      const mine = placed
        .map((p) => ({ ...p, s: Math.max(new Date(p.start), day.start), e: Math.min(new Date(p.end), day.end) }))
        .filter((p) => p.e > p.s)
        .sort((p, q) => p.s - q.s);
      const laneEnds = [];
      for (const p of mine) {
        let lane = laneEnds.findIndex((end) => end <= p.s);
        if (lane < 0) lane = laneEnds.push(0) - 1;
        laneEnds[lane] = p.e;
        p.lane = lane;
      }
      for (const p of mine) {
        const block = p.kind === "appointment" ? appointmentBlock(p.item) : busyBlock(p.item);
        const startMin = (p.s - day.start) / 60_000;
        const endMin = (p.e - day.start) / 60_000;
        block.style.top = pct(startMin);
        block.style.height = `${((endMin - startMin) / span) * 100}%`;
        block.style.left = `${(p.lane / laneEnds.length) * 100}%`;
        block.style.width = `${100 / laneEnds.length}%`;
        body.append(block);
      }
      return h("div", { class: "week-col" }, head, body);
    });
    mount(grid, gutter, columns);
    grid.style.setProperty("--rows", String(rows));
  };

  const resourceName = (id) => (resources.find((r) => r.id === id) || {}).name;
  const appointmentBlock = (a) => {
    const label = `${fmtClock(a.starts_at, zone)}–${fmtClock(a.ends_at, zone)} ${a.service_name}${a.name ? `, ${a.name}` : ""}`;
    const block = h(
      "button",
      { type: "button", class: "week-block appointment", "data-testid": "week-appointment", "data-id": a.id, title: `${label}${resources.length > 1 && resourceName(a.resource_id) ? ` (${resourceName(a.resource_id)})` : ""}` },
      h("strong", {}, fmtClock(a.starts_at, zone)),
      " ",
      a.service_name,
      h("span", { class: "who" }, a.name || ""),
    );
    block.setAttribute("aria-label", label);
    block.addEventListener("click", () => appointmentDialog(ctx, a, zone, load));
    return block;
  };
  const busyBlock = (b) => {
    const label = `Busy ${fmtClock(b.starts_at, zone)}–${fmtClock(b.ends_at, zone)}${b.title ? `: ${b.title}` : ""}`;
    const block = h("button", { type: "button", class: "week-block busy", "data-testid": "week-busy", "data-id": b.id, title: label }, h("strong", {}, fmtClock(b.starts_at, zone)), " ", b.title || "Busy");
    block.setAttribute("aria-label", label);
    block.addEventListener("click", async () => {
      if (!ctx.hasRole("admin")) return;
      if (!(await confirmAction(`Remove the busy time “${b.title || "Busy"}” (${fmtZoned(b.starts_at, zone)})? Its slots can then be booked.`, { action: "Remove" }))) return;
      const done = await run(block, () => del(`${SCHEDULE}/busy/${b.id}`), { context: "Could not remove the busy time" });
      if (done !== undefined) await load();
    });
    return block;
  };

  if (ctx.hasRole("admin")) add(root, busyForm(ctx, { bot, zone, days, resources: () => resources, onDone: load }));
  await load();
}

/** What one appointment is, with reschedule and cancel. */
function appointmentDialog(ctx, a, zone, onDone) {
  const close = h("button", { type: "button", "data-testid": "appointment-close" }, "Close");
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "appointment-title", "data-testid": "appointment-dialog" },
    h("h2", { id: "appointment-title" }, a.service_name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "When"),
      h("dd", {}, `${fmtZoned(a.starts_at, zone)}–${fmtClock(a.ends_at, zone)}`),
      h("dt", {}, "Visitor"),
      h("dd", {}, a.name || "(erased)", a.email ? h("div", {}, h("a", { href: `mailto:${a.email}` }, a.email)) : null),
      a.notes ? [h("dt", {}, "Notes"), h("dd", {}, a.notes)] : null,
    ),
    a.conversation_id ? h("p", {}, h("a", { href: `#/conversations/${a.conversation_id}` }, "Open the conversation")) : null,
  );
  const actions = h("div", { class: "actions" });
  const finish = () => (dialog.close(), dialog.remove());
  if (ctx.hasRole("agent")) {
    const move = h("button", { type: "button", "data-testid": "appointment-reschedule" }, "Reschedule");
    move.addEventListener("click", () => {
      finish();
      rescheduleDialog(ctx, a, zone, onDone);
    });
    const cancel = h("button", { type: "button", class: "danger", "data-testid": "appointment-cancel" }, "Cancel the appointment");
    cancel.addEventListener("click", async () => {
      const done = await run(cancel, () => post(`${SCHEDULE}/bookings/${a.id}/cancel`, {}), { context: "Could not cancel the appointment" });
      if (done) {
        finish();
        await onDone();
      }
    });
    actions.append(move, cancel);
  }
  actions.append(close);
  dialog.append(actions);
  close.addEventListener("click", finish);
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** Block time in the built-in calendar (lunch, a training day): no slot is offered over it. */
function busyForm(ctx, { bot, zone, days, resources, onDone }) {
  const day = h("select", { name: "day", "data-testid": "busy-day" }, days.map((d) => h("option", { value: d.iso_date }, fmtDay(d.year, d.month, d.day))));
  const start = h("input", { type: "time", name: "start", value: "12:00", step: 300, required: true, "data-testid": "busy-from" });
  const end = h("input", { type: "time", name: "end", value: "13:00", step: 300, required: true, "data-testid": "busy-to" });
  const title = h("input", { name: "title", maxlength: 200, placeholder: "Lunch", "data-testid": "busy-title" });
  const resource = h("select", { name: "resource_id", "data-testid": "busy-resource" }, h("option", { value: "" }, "Every resource"));
  resource.addEventListener("focus", () => {
    const chosen = resource.value;
    mount(resource, h("option", { value: "" }, "Every resource"), resources().map((r) => h("option", { value: r.id }, r.name)));
    resource.value = chosen;
  });
  const submit = h("button", { type: "submit", "data-testid": "add-busy" }, "Block this time");
  const form = h("form", { class: "form", "aria-label": "Block time" }, h("div", { class: "row" }, field("Day", day), field("From", start), field("To", end), field("What", title), field("Resource", resource)), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [y, m, d] = day.value.split("-").map(Number);
    const [sh, sm] = start.value.split(":").map(Number);
    const [eh, em] = end.value.split(":").map(Number);
    const body = {
      bot_id: bot.id,
      starts_at: zonedToDate(y, m, d, sh, sm, zone).toISOString(),
      ends_at: zonedToDate(y, m, d, eh, em, zone).toISOString(),
      title: title.value.trim(),
      resource_id: resource.value || null,
    };
    const created = await run(submit, () => post(`${SCHEDULE}/busy`, body), { form, context: "Could not block the time" });
    if (created) {
      title.value = "";
      await onDone();
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Block time"), h("p", { class: "hint" }, `In ${zone}. Busy times in your connected calendars block slots too; they are not copied here.`), form);
}
