// The appointments: filtered by bot, status and dates, shown at the business's time (the visitor's
// own time beside it when it differs); cancel, or reschedule to a free slot picked from the bot's
// availability. The visitor is mailed either way.

import { get, post } from "../api.js";
import { add, confirmAction, empty, field, fmtDate, h, mount, pill, run, showError, showFieldErrors } from "../dom.js";
import { SCHEDULE, STATUS_TONE, bookingsHref, browserZone, fmtClock, fmtDay, fmtZoned, loadBookingSettings, zonedParts, zonedToDate } from "./bookings-common.js";

const PAGE_SIZE = 50;
const SOURCE_LABEL = { chat: "chat", api: "API", dashboard: "dashboard" };

export default async function renderBookingList(root, ctx, { bots, bot, botNames }) {
  const query = ctx.query;
  const zones = zoneCache(ctx);
  const status = h(
    "select",
    { name: "status", value: query.get("status") ?? "booked", "data-testid": "bookings-status-filter" },
    h("option", { value: "booked" }, "Booked"),
    h("option", { value: "cancelled" }, "Cancelled"),
    h("option", { value: "any" }, "Any status"),
  );
  const from = h("input", { type: "date", name: "from", value: query.get("from") || "", "data-testid": "bookings-from" });
  const to = h("input", { type: "date", name: "to", value: query.get("to") || "", "data-testid": "bookings-to" });
  const filters = h(
    "form",
    { class: "card filters", "aria-label": "Filter appointments" },
    h("div", { class: "filter-grid" }, field("Status", status), field("From", from), field("To (included)", to)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-testid": "bookings-apply" }, "Apply filters"), h("a", { class: "button", href: bookingsHref("list", bot ? bot.id : "") }, "Clear")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.navigate(bookingsHref("list", bot ? bot.id : "", { status: status.value, from: from.value, to: to.value }));
  });

  const server = { limit: PAGE_SIZE };
  if (bot) server.bot_id = bot.id;
  if (status.value !== "any") server.status = status.value;
  // Days are the business's (the chosen bot's zone), else the browser's.
  const filterZone = bot ? await zones(bot.id) : browserZone();
  const midnight = (text, plusDays = 0) => {
    const [y, m, d] = text.split("-").map(Number);
    return zonedToDate(y, m, d + plusDays, 0, 0, filterZone).toISOString();
  };
  if (from.value) server.from = midnight(from.value);
  if (to.value) server.to = midnight(to.value, 1); // "to" includes the whole day

  const rows = h("tbody", {});
  const table = h(
    "table",
    { class: "table bookings" },
    h("caption", { class: "sr-only" }, "Appointments, soonest first"),
    h("thead", {}, h("tr", {}, ["When", "Service", "Visitor", "Bot", "Status", ""].map((label) => h("th", { scope: "col" }, label)))),
    rows,
  );
  const holder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading appointments…"));
  const more = h("button", { type: "button", hidden: true, "data-testid": "bookings-more" }, "Load more");
  const count = h("span", { class: "muted", "data-testid": "bookings-count" });
  let offset = 0;

  const reloadAll = async () => {
    offset = 0;
    rows.replaceChildren();
    await loadPage();
  };
  const loadPage = async () => {
    const page = await get(`${SCHEDULE}/bookings`, { query: { ...server, offset }, signal: ctx.signal });
    const items = page;
    offset += items.length;
    for (const a of items) rows.append(await bookingRow(a, { ctx, zones, botNames, reload: reloadAll }));
    more.hidden = items.length < PAGE_SIZE;
    count.textContent = `(${rows.children.length})`;
    if (!rows.children.length) {
      const filtered = status.value !== "booked" || from.value || to.value;
      mount(holder, empty(filtered ? "No appointment matches these filters." : "No appointments yet. Once a bot has booking settings and a service, visitors can book in the chat."));
    } else if (!holder.contains(table)) {
      mount(holder, table, more);
    }
  };
  more.addEventListener("click", () => run(more, loadPage, { context: "Could not load more appointments" }));

  add(root, filters, h("h2", {}, "Appointments ", count), holder);
  try {
    await loadPage();
  } catch (error) {
    mount(holder, h("p", { class: "muted" }, "The appointments could not be loaded."));
    showError(error, { context: "Could not load the appointments" });
    showFieldErrors(filters, error);
  }
  void bots;
}

/** Each bot's business time zone, loaded once per page. */
export function zoneCache(ctx) {
  const known = new Map();
  return async (botId) => {
    if (!known.has(botId)) known.set(botId, loadBookingSettings(ctx, botId).then((s) => (s && s.configured && s.time_zone) || browserZone()));
    return known.get(botId);
  };
}

async function bookingRow(a, { ctx, zones, botNames, reload }) {
  const zone = await zones(a.bot_id);
  const visitorZone = a.time_zone && a.time_zone !== zone ? a.time_zone : null;
  const when = h(
    "td",
    { "data-testid": "booking-when" },
    h("time", { datetime: a.starts_at, title: a.starts_at }, fmtZoned(a.starts_at, zone)),
    `–${fmtClock(a.ends_at, zone)}`,
    h("div", { class: "hint" }, zone, visitorZone ? ` · the visitor's time: ${fmtZoned(a.starts_at, visitorZone)} (${visitorZone})` : ""),
  );
  const visitor = h(
    "td",
    {},
    h("span", { "data-testid": "booking-visitor" }, a.name || h("span", { class: "muted" }, "(erased)")),
    a.email ? h("div", { class: "small" }, h("a", { href: `mailto:${a.email}` }, a.email)) : null,
    a.conversation_id ? h("div", { class: "small" }, h("a", { href: `#/conversations/${a.conversation_id}` }, "The conversation")) : null,
  );
  const actions = h("div", { class: "row-actions" });
  if (a.status === "booked" && ctx.hasRole("agent")) {
    const cancel = h("button", { type: "button", class: "danger small", "data-testid": "cancel-booking" }, "Cancel");
    cancel.addEventListener("click", async () => {
      const who = a.name ? `${a.name}'s` : "This";
      if (!(await confirmAction(`${who} appointment on ${fmtZoned(a.starts_at, zone)} will be cancelled and the visitor mailed.`, { action: "Cancel the appointment" }))) return;
      const done = await run(cancel, () => post(`${SCHEDULE}/bookings/${a.id}/cancel`, {}), { context: "Could not cancel the appointment" });
      if (done) await reload();
    });
    const move = h("button", { type: "button", class: "small", "data-testid": "reschedule-booking" }, "Reschedule");
    move.addEventListener("click", () => rescheduleDialog(ctx, a, zone, reload));
    actions.append(move, cancel);
  }
  return h(
    "tr",
    { "data-testid": "booking-row", "data-id": a.id, "data-status": a.status },
    when,
    h("td", { "data-testid": "booking-service" }, a.service_name, h("div", { class: "hint" }, `via ${SOURCE_LABEL[a.source] || a.source}`)),
    visitor,
    h("td", {}, botNames.get(a.bot_id) || "(deleted bot)"),
    h(
      "td",
      {},
      h("span", { "data-testid": "booking-status" }, pill(a.status, STATUS_TONE[a.status])),
      a.cancelled_at ? h("div", { class: "hint" }, `on ${fmtDate(a.cancelled_at)}`) : null,
    ),
    h("td", {}, actions),
  );
}

/** Pick a day, see its free slots for the appointment's service, move the appointment to one. */
export function rescheduleDialog(ctx, a, zone, onDone) {
  const start = zonedParts(a.starts_at, zone);
  const day = h("input", { type: "date", value: `${start.year}-${String(start.month).padStart(2, "0")}-${String(start.day).padStart(2, "0")}`, "data-testid": "reschedule-day" });
  const slots = h("div", { class: "slots", "aria-live": "polite", "data-testid": "reschedule-slots" });
  const close = h("button", { type: "button", "data-testid": "reschedule-close" }, "Close");
  const dialog = h(
    "dialog",
    { class: "confirm reschedule", "aria-labelledby": "reschedule-title", "data-testid": "reschedule-dialog" },
    h("h2", { id: "reschedule-title" }, "Move the appointment"),
    h("p", {}, `${a.service_name}, now ${fmtZoned(a.starts_at, zone)} (${zone}). The visitor gets an updated invitation.`),
    field("Day", day),
    slots,
    h("div", { class: "actions" }, close),
  );
  const show = async () => {
    mount(slots, h("p", { class: "muted" }, "Looking for free slots…"));
    const [y, m, d] = day.value.split("-").map(Number);
    if (!y) return mount(slots, h("p", { class: "muted" }, "Choose a day."));
    const after = zonedToDate(y, m, d, 0, 0, zone);
    const before = zonedToDate(y, m, d + 1, 0, 0, zone);
    let found;
    try {
      found = await get(`${SCHEDULE}/availability`, {
        query: { bot_id: a.bot_id, service_id: a.service_id, from: after.toISOString(), to: before.toISOString(), limit: 48 },
        signal: ctx.signal,
      });
    } catch (error) {
      mount(slots, h("p", { class: "source-error" }, `The free slots could not be loaded: ${error.message}`));
      return;
    }
    const list = found.slots || [];
    const failed = found.failed_calendars || [];
    mount(
      slots,
      failed.length ? h("p", { class: "notice" }, `Not answering, so not checked: ${failed.join(", ")}.`) : null,
      list.length
        ? h(
            "div",
            { class: "slot-buttons" },
            list.map((slot) => {
              const pick = h("button", { type: "button", class: "small", "data-testid": "reschedule-slot", "data-start": slot.start }, fmtClock(slot.start, zone));
              pick.addEventListener("click", async () => {
                const moved = await run(pick, () => post(`${SCHEDULE}/bookings/${a.id}/reschedule`, { start: slot.start }), { context: "Could not move the appointment" });
                if (moved) {
                  dialog.close();
                  dialog.remove();
                  await onDone();
                }
              });
              return pick;
            }),
          )
        : h("p", { class: "muted" }, `Nothing free on ${fmtDay(y, m, d)}: try another day.`),
    );
  };
  day.addEventListener("change", show);
  close.addEventListener("click", () => (dialog.close(), dialog.remove()));
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  show();
}
