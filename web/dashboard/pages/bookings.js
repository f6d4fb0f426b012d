// Bookings: appointments booked from the chat (or here), their week on a calendar, the booking
// rules of each bot (hours, services, resources, closures, reminders, who is told) and the
// workspace's connected calendars. A bot picker, then four tabs; `?bot_id=` keeps the bot.

import { add, field, h } from "../dom.js";
import { loadBots } from "./helper-common.js";
import { bookingsHref } from "./bookings-common.js";
import renderBookingList from "./bookings-list.js";
import renderWeek from "./bookings-week.js";
import renderBookingSettings from "./bookings-settings.js";
import renderCalendars from "./bookings-calendars.js";

const TABS = [
  { id: "list", label: "Appointments", render: renderBookingList, allBots: true },
  { id: "week", label: "Week", render: renderWeek },
  { id: "settings", label: "Booking settings", render: renderBookingSettings },
  { id: "calendars", label: "Connected calendars", render: renderCalendars, allBots: true },
];

export default async function renderBookings(root, ctx) {
  const tab = TABS.find((t) => t.id === (ctx.params.tab || "list")) || TABS[0];
  const bots = await loadBots(ctx);
  let botId = ctx.query.get("bot_id") || "";
  if (botId && !bots.some((b) => b.id === botId)) botId = "";
  // The week and the settings belong to one bot: the first one unless another is chosen.
  if (!botId && !tab.allBots && bots.length) botId = bots[0].id;
  const bot = bots.find((b) => b.id === botId) || null;

  const picker = h(
    "select",
    { name: "bot_id", value: botId, "data-testid": "bookings-bot" },
    tab.allBots ? h("option", { value: "" }, "All bots") : null,
    bots.map((b) => h("option", { value: b.id }, b.name)),
  );
  picker.addEventListener("change", () => ctx.navigate(bookingsHref(tab.id, picker.value)));

  add(
    root,
    h(
      "div",
      { class: "page-head row spread" },
      h(
        "div",
        {},
        h("h1", {}, "Bookings"),
        h("p", { class: "muted" }, "Visitors book appointments in the chat; nothing is ever booked twice. Set each bot's hours and services, connect the calendars you already use, and follow the bookings here."),
      ),
      h("div", { class: "helper-bot-filter" }, field("Bot", picker)),
    ),
    h(
      "nav",
      { class: "tabs", "aria-label": "Bookings sections" },
      TABS.map((t) => h("a", { href: bookingsHref(t.id, botId), "aria-current": t.id === tab.id ? "page" : null, "data-testid": `bookings-tab-${t.id}` }, t.label)),
    ),
  );
  const body = h("section", { class: "tab-body", "aria-label": tab.label });
  add(root, body);
  ctx.setTitle(`Bookings · ${tab.label}`);
  if (!bots.length) {
    body.append(h("div", { class: "empty" }, h("p", {}, "Create a bot first: bookings belong to a bot. "), h("a", { href: "#/bots" }, "Go to your bots")));
    return;
  }
  return tab.render(body, ctx, { bots, bot, botNames: new Map(bots.map((b) => [b.id, b.name])) });
}

