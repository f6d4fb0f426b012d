// Connected calendars of the workspace: their busy times keep slots free, and bookings are written
// into them. CalDAV with a URL, user and password; Google and Outlook through their sign-in (OAuth);
// each shows whether it answered the last time it was asked, and why not.

import { del, get, post } from "../api.js";
import { add, checkbox, confirmAction, empty, field, fmtDate, h, mount, pill, run, showError } from "../dom.js";
import { CALENDARS, CALENDAR_KIND, SCHEDULE, browserZone, timeZones } from "./bookings-common.js";

export default async function renderCalendars(root, ctx, { bots, bot, botNames }) {
  const canEdit = ctx.hasRole("admin");
  // Where an OAuth sign-in came back to (the callback sends the browser here).
  const connected = ctx.query.get("connected");
  const failed = ctx.query.get("error");
  if (connected) add(root, h("p", { class: "notice info", "data-testid": "calendar-connected" }, `Connected: ${connected}.`));
  if (failed) add(root, h("p", { class: "notice", "data-testid": "calendar-connect-failed" }, `The calendar was not connected: ${failed}`));

  // Resources of every bot, to say whose busy time a calendar holds.
  const resources = [];
  await Promise.all(
    bots.map(async (b) => {
      try {
        for (const r of await get(`${SCHEDULE}/resources`, { query: { bot_id: b.id }, signal: ctx.signal })) resources.push({ ...r, bot_name: b.name });
      } catch (error) {
        if (error.status !== 404) showError(error, { context: "Could not load the resources" });
      }
    }),
  );
  const resourceName = new Map(resources.map((r) => [r.id, `${r.name} (${r.bot_name})`]));
  const holder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading calendars…"));

  const load = async () => {
    let calendars;
    try {
      calendars = await get(CALENDARS, { signal: ctx.signal });
    } catch (error) {
      mount(holder, h("p", { class: "muted" }, "The calendars could not be loaded."));
      return showError(error, { context: "Could not load the calendars" });
    }
    if (!calendars.length) {
      return mount(holder, empty("No calendar connected: bookings live in the built-in calendar only (the Week tab). Connect the calendars you already use so their busy times are never offered."));
    }
    mount(
      holder,
      h(
        "table",
        { class: "table calendars" },
        h("thead", {}, h("tr", {}, ["Calendar", "Kind", "Blocks", "Bookings written", "Status", ""].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, calendars.map((c) => calendarRow(c, { canEdit, reload: load, resourceName }))),
      ),
    );
  };

  add(
    root,
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Connected calendars"),
      h("p", { class: "hint" }, "The built-in calendar always answers. A connected calendar that does not answer is skipped (its busy times are then unknown), the owner is told, and it is shown here in red with the reason."),
      holder,
    ),
  );
  if (canEdit) add(root, h("div", { class: "grid-2 forms" }, caldavForm(ctx, { resources, onDone: load }), oauthCard(ctx, { resources, bot })));
  else add(root, h("p", { class: "notice" }, "Only admins and owners can connect or disconnect calendars."));
  void botNames;
  await load();
}

function calendarRow(c, { canEdit, reload, resourceName }) {
  const status = h("div", { "data-testid": "calendar-status" });
  const showStatus = (cal) =>
    mount(
      status,
      pill(cal.status === "error" ? "not answering" : "ok", cal.status === "error" ? "bad" : "ok"),
      cal.last_error ? h("p", { class: "source-error", "data-testid": "calendar-error" }, cal.last_error) : null,
      h("p", { class: "hint" }, cal.last_checked_at ? `Last asked ${fmtDate(cal.last_checked_at)}` : "Not asked yet"),
    );
  showStatus(c);
  const tested = h("p", { class: "hint", role: "status", "data-testid": "calendar-test-result" });
  const test = h("button", { type: "button", class: "small", "data-testid": "test-calendar" }, "Test");
  test.addEventListener("click", async () => {
    tested.textContent = "";
    const result = await run(test, () => post(`${CALENDARS}/${c.id}/test`), { context: `Could not test ${c.name}` });
    if (!result) return;
    showStatus(result.calendar);
    status.append(tested);
    tested.textContent = result.ok
      ? `It answered: ${result.busy_spans} busy ${result.busy_spans === 1 ? "time" : "times"} in the next 7 days.`
      : "It did not answer just now.";
  });
  const remove = h("button", { type: "button", class: "danger small", disabled: !canEdit, "data-testid": "disconnect-calendar" }, "Disconnect");
  remove.addEventListener("click", async () => {
    if (!(await confirmAction(`Disconnect ${c.name}? Its busy times stop blocking slots and bookings are no longer written into it (events already there stay).`, { action: "Disconnect" }))) return;
    const done = await run(remove, () => del(`${CALENDARS}/${c.id}`), { context: `Could not disconnect ${c.name}` });
    if (done !== undefined) await reload();
  });
  return h(
    "tr",
    { "data-testid": "calendar-row", "data-id": c.id },
    h(
      "td",
      {},
      h("strong", { "data-testid": "calendar-name" }, c.name),
      c.url ? h("div", { class: "small-link muted" }, c.url, c.username ? ` (${c.username})` : "") : null,
      c.account ? h("div", { class: "small muted" }, c.account) : null,
    ),
    h("td", {}, CALENDAR_KIND[c.kind] || c.kind),
    h("td", {}, c.resource_id ? resourceName.get(c.resource_id) || "(a removed resource)" : "Every resource"),
    h("td", {}, c.write_bookings ? "Yes" : "No"),
    h("td", {}, status),
    h("td", {}, h("div", { class: "row-actions" }, test, remove)),
  );
}

function resourceSelect(resources, testid) {
  return h(
    "select",
    { name: "resource_id", "data-testid": testid },
    h("option", { value: "" }, "Every resource (the whole business)"),
    resources.map((r) => h("option", { value: r.id }, `${r.name} (${r.bot_name})`)),
  );
}

function caldavForm(ctx, { resources, onDone }) {
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "connect-caldav" }, "Connect");
  const write = checkbox("Write bookings into this calendar", { name: "write_bookings", checked: true, "data-testid": "caldav-write" });
  const form = h(
    "form",
    { class: "form", "aria-label": "Connect a CalDAV calendar" },
    field("Name (optional)", h("input", { name: "name", maxlength: 120, placeholder: "Salon calendar", "data-testid": "caldav-name" }), "The calendar's own name when left empty."),
    field("Calendar URL", h("input", { name: "url", type: "url", required: true, placeholder: "https://dav.example.com/anna/calendar/", "data-testid": "caldav-url" }), "The calendar collection's address (Nextcloud, iCloud, Fastmail, Radicale …)."),
    h(
      "div",
      { class: "grid-2" },
      field("User name", h("input", { name: "username", autocomplete: "off", "data-testid": "caldav-username" })),
      field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", "data-testid": "caldav-password" }), "An app password where the provider offers one. Stored encrypted."),
    ),
    field("Its busy times block", resourceSelect(resources, "caldav-resource")),
    field("Time zone of its all-day events", h("input", { name: "time_zone", list: "caldav-zones", value: browserZone(), autocomplete: "off", "data-testid": "caldav-time-zone" })),
    h("datalist", { id: "caldav-zones" }, timeZones().map((z) => h("option", { value: z }))),
    write,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      kind: "caldav",
      name: form.name.value.trim() || null,
      url: form.url.value.trim(),
      username: form.username.value,
      password: form.password.value,
      resource_id: form.resource_id.value || null,
      write_bookings: write.querySelector("input").checked,
      time_zone: form.time_zone.value.trim() || "UTC",
    };
    const created = await run(submit, () => post(CALENDARS, body), { form, context: "Could not connect the calendar" });
    if (created) {
      form.reset();
      await onDone();
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Connect a CalDAV calendar"), h("p", { class: "hint" }, "We check that it answers before saving it."), form);
}

function oauthCard(ctx, { resources }) {
  const resource = resourceSelect(resources, "oauth-resource");
  const write = checkbox("Write bookings into the calendar", { name: "write_bookings", checked: true, "data-testid": "oauth-write" });
  const start = (provider, label) => {
    const button = h("button", { type: "button", class: "primary", "data-testid": `connect-${provider}` }, `Connect ${label}`);
    button.addEventListener("click", async () => {
      const body = { resource_id: resource.value || null, write_bookings: write.querySelector("input").checked };
      const started = await run(button, () => post(`${CALENDARS}/oauth/${provider}/start`, body), { context: `Could not start connecting ${label}` });
      if (started && started.authorize_url) location.assign(started.authorize_url);
    });
    return button;
  };
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Connect Google or Outlook"),
    h("p", { class: "hint" }, "You sign in with the provider and allow Cortex to read your free/busy times and add events; you come back here afterwards. Tokens are stored encrypted and refreshed automatically."),
    field("Its busy times block", resource),
    write,
    h("div", { class: "actions" }, start("google", "Google"), start("outlook", "Outlook")),
  );
}
