// Conversations: filter, browse, export; a row opens its transcript.

import { download, get } from "../api.js";
import { add, empty, field, fmtDate, h, mount, pill, run, showError, showFieldErrors } from "../dom.js";

const PAGE_SIZE = 50;
export const OUTCOMES = ["resolved", "lead_captured", "booked", "escalated", "abandoned"];
const STATUS_TONE = { open: "ok", handoff: "warn", closed: "muted" };

/** The API's filters (conversation_filters in cortex/core/api.py) from the URL's query. */
function serverFilters(query) {
  const filters = {};
  for (const key of ["bot_id", "status", "rating", "outcome", "q"]) if (query.get(key)) filters[key] = query.get(key);
  if (query.get("has_lead")) filters.has_lead = query.get("has_lead") === "yes";
  if (query.get("from")) filters.since = startOfDay(query.get("from")).toISOString();
  if (query.get("to")) {
    const end = startOfDay(query.get("to"));
    end.setDate(end.getDate() + 1); // "to" includes the whole day: started before the next midnight
    filters.until = end.toISOString();
  }
  return filters;
}

function startOfDay(dateText) {
  const [y, m, d] = dateText.split("-").map(Number);
  return new Date(y, m - 1, d);
}

export default async function renderConversations(root, ctx) {
  const query = ctx.query;
  let bots = [];
  try {
    bots = await get("/api/bots", { signal: ctx.signal });
  } catch (error) {
    showError(error, { context: "Could not load the bots for the filter" });
  }
  const botNames = new Map(bots.map((b) => [b.id, b.name]));

  const select = (name, label, options) =>
    field(label, h("select", { name, value: query.get(name) || "", "data-testid": `filter-${name}` }, options.map(([value, text]) => h("option", { value }, text))));
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Filter conversations" },
    h(
      "div",
      { class: "filter-grid" },
      select("bot_id", "Bot", [["", "All bots"], ...bots.map((b) => [b.id, b.name])]),
      select("status", "Status", [["", "Any"], ["open", "open"], ["handoff", "handoff"], ["closed", "closed"]]),
      select("outcome", "Outcome", [["", "Any"], ...OUTCOMES.map((o) => [o, o.replace("_", " ")])]),
      select("has_lead", "Lead", [["", "Any"], ["yes", "Lead captured"], ["no", "No lead"]]),
      select("rating", "Rating", [["", "Any"], ...[5, 4, 3, 2, 1].map((r) => [String(r), `${r} ★`])]),
      field("From", h("input", { type: "date", name: "from", value: query.get("from") || "", "data-testid": "filter-from" })),
      field("To", h("input", { type: "date", name: "to", value: query.get("to") || "", "data-testid": "filter-to" })),
      field("Text in messages", h("input", { type: "search", name: "q", minlength: 2, maxlength: 200, value: query.get("q") || "", "data-testid": "filter-q" })),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", "data-testid": "apply-filters" }, "Apply filters"),
      h("a", { href: "#/conversations", class: "button" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    const text = params.toString();
    ctx.navigate(`#/conversations${text ? `?${text}` : ""}`);
  });

  const filters = serverFilters(query);

  const exportButtons = ["json", "csv"].map((format) => {
    const button = h("button", { type: "button", "data-testid": `export-${format}` }, `Export ${format.toUpperCase()}`);
    button.addEventListener("click", () =>
      run(button, () => download("/api/conversations/export", { query: { ...filters, format }, filename: `conversations.${format}` }), { context: "Could not export" }),
    );
    return button;
  });

  const rows = h("tbody", {});
  const table = h(
    "table",
    { class: "table conversations clickable" },
    h("caption", { class: "sr-only" }, "Conversations"),
    h("thead", {}, h("tr", {}, ["Started", "Bot", "Status", "Outcomes", "Messages", "Rating", "Last message"].map((label) => h("th", { scope: "col" }, label)))),
    rows,
  );
  const more = h("button", { type: "button", "data-testid": "load-more", hidden: true }, "Load more");
  const listHolder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading conversations…"));
  const count = h("span", { class: "muted" });
  let offset = 0;
  let shown = 0;

  const loadPage = async () => {
    const page = await get("/api/conversations", { query: { ...filters, limit: PAGE_SIZE, offset }, signal: ctx.signal });
    offset += page.length;
    shown += page.length;
    rows.append(...page.map((c) => conversationRow(c, botNames, ctx)));
    more.hidden = page.length < PAGE_SIZE;
    count.textContent = `${shown} shown`;
    if (!shown) {
      const filtered = Object.keys(filters).length;
      mount(
        listHolder,
        empty(
          filtered
            ? "No conversation matches these filters — widen them or clear them."
            : "No conversations yet — put the widget on your site (a bot's Embed tab) or try it in the Appearance preview.",
        ),
      );
      if (!more.hidden) listHolder.append(more);
    } else if (!listHolder.contains(table)) {
      mount(listHolder, table, more);
    }
  };
  more.addEventListener("click", () => run(more, loadPage, { context: "Could not load more conversations" }));

  add(root, 
    h("div", { class: "page-head row spread" }, h("h1", {}, "Conversations ", count), h("div", { class: "actions" }, exportButtons)),
    form,
    listHolder,
  );
  try {
    await loadPage();
  } catch (error) {
    mount(listHolder, h("p", { class: "muted" }, "The conversations could not be loaded."));
    showError(error, { context: "Could not load conversations" });
    showFieldErrors(form, error); // a bad filter (a one-letter text search) is a 422 on the query
  }
}

function conversationRow(c, botNames, ctx) {
  const href = `#/conversations/${c.id}`;
  const row = h(
    "tr",
    { "data-testid": "conversation-row", "data-conversation-id": c.id },
    h("td", {}, h("a", { href }, fmtDate(c.started_at))),
    h("td", {}, botNames.get(c.bot_id) || "(deleted bot)"),
    h("td", {}, pill(c.status, STATUS_TONE[c.status])),
    h("td", {}, c.outcomes.length ? c.outcomes.map((o) => h("span", { class: "tag" }, o.replace("_", " "))) : h("span", { class: "muted" }, "—")),
    h("td", { class: "num" }, String(c.message_count)),
    h("td", {}, c.rating ? `${c.rating} ★` : h("span", { class: "muted" }, "—")),
    h("td", {}, fmtDate(c.last_message_at)),
  );
  row.addEventListener("click", (event) => {
    if (!event.target.closest("a")) ctx.navigate(href);
  });
  return row;
}
