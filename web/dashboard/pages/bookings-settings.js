// Booking settings of one bot: when it books (hours per weekday in the business's time zone, buffer,
// notice, horizon, slot step), reminders and who is told of bookings; then what can be booked
// (services), who or what an appointment takes (resources: capacity), and closed days.

import { api, del, get, patch, post } from "../api.js";
import { add, checkbox, confirmAction, copyButton, empty, field, h, lines, mount, run, showError } from "../dom.js";
import { SCHEDULE, WEEKDAYS, loadBookingSettings, timeZones } from "./bookings-common.js";


export default async function renderBookingSettings(root, ctx, { bot }) {
  const canEdit = ctx.hasRole("admin");
  const settings = await loadBookingSettings(ctx, bot.id);
  const sections = [];
  if (!canEdit) sections.push(h("p", { class: "notice" }, "Only admins and owners can change how this bot books."));
  const resourceNames = new Map();
  const services = listCard(ctx, {
    title: "Services",
    what: "service",
    testid: "service",
    path: `${SCHEDULE}/services`,
    bot,
    canEdit,
    hint: "What visitors can book, and for how long. The bot asks which one when there are several.",
    empty: "No services yet: add one, or visitors cannot book.",
    columns: [
      ["Service", (s) => h("span", { "data-testid": "service-name" }, s.name, s.description ? h("span", { class: "muted small" }, ` — ${s.description}`) : null)],
      ["Duration", (s) => h("span", { "data-testid": "service-duration" }, `${s.duration_min} min`)],
    ],
    form: () => [
      field("Name", h("input", { name: "name", required: true, maxlength: 120, "data-testid": "service-name-input", placeholder: "Haircut" })),
      field("Duration (minutes)", h("input", { name: "duration_min", type: "number", min: 5, max: 720, step: 5, value: 30, "data-testid": "service-duration-input" })),
      field("Description (optional)", h("input", { name: "description", maxlength: 500, "data-testid": "service-description-input" })),
    ],
    body: (form) => ({ name: form.name.value.trim(), duration_min: Number(form.duration_min.value), description: form.description.value.trim() }),
  });
  const resources = listCard(ctx, {
    title: "Resources",
    what: "resource",
    testid: "resource",
    path: `${SCHEDULE}/resources`,
    bot,
    canEdit,
    hint: "Who or what an appointment takes: a person, a chair, a room. Each takes one appointment at a time, so two resources can take two at once.",
    empty: "No resource yet: the first booking settings you save add one named after the bot.",
    columns: [["Resource", (r) => h("span", { "data-testid": "resource-name" }, r.name)]],
    form: () => [field("Name", h("input", { name: "name", required: true, maxlength: 120, "data-testid": "resource-name-input", placeholder: "Chair 2" }))],
    body: (form) => ({ name: form.name.value.trim() }),
    loaded: (items) => {
      resourceNames.clear();
      for (const r of items) resourceNames.set(r.id, r.name);
    },
  });
  const closures = listCard(ctx, {
    title: "Closed days",
    what: "closure",
    testid: "closure",
    path: `${SCHEDULE}/closures`,
    bot,
    canEdit,
    hint: "Holidays and closures, whole days in the business's time zone: nothing is offered on them.",
    empty: "No closed days.",
    columns: [
      ["From", (c) => c.starts_on],
      ["To", (c) => c.ends_on],
      ["Reason", (c) => c.reason || h("span", { class: "muted" }, "—")],
    ],
    form: () => [
      field("From", h("input", { name: "starts_on", type: "date", required: true, "data-testid": "closure-from" })),
      field("To (included)", h("input", { name: "ends_on", type: "date", "data-testid": "closure-to" }), "Leave empty for one day."),
      field("Reason (optional)", h("input", { name: "reason", maxlength: 200, "data-testid": "closure-reason", placeholder: "Christmas" })),
    ],
    body: (form) => ({ starts_on: form.starts_on.value, ends_on: form.ends_on.value || form.starts_on.value, reason: form.reason.value.trim() }),
  });
  // The first save gives the bot its first resource: the list shows it then.
  sections.push(settingsCard(ctx, bot, settings, canEdit, () => resources.load()));
  sections.push(services.card, h("div", { class: "grid-2 forms" }, resources.card, closures.card));
  add(root, ...sections);
  await Promise.all([services.load(), resources.load(), closures.load()]);
}

// -- the rules -----------------------------------------------------------------------------------

function settingsCard(ctx, bot, settings, canEdit, onSaved) {
  // A bot never set up shows the server's defaults, switched on, in the browser's zone, told to you.
  const configured = Boolean(settings && settings.configured);
  const current = configured
    ? settings
    : {
        ...(settings || { hours: {}, buffer_min: 0, min_notice_min: 60, horizon_days: 60, slot_step_min: 30, reminder_hours: [24], follow_up_hours: 24 }),
        enabled: true,
        time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
        notify: { emails: ctx.me ? [ctx.me.user.email] : [], webhook_url: "" },
      };
  const disabled = !canEdit;
  const notSetUp = h("p", { class: "notice info", "data-testid": "booking-not-set-up", hidden: configured }, "This bot does not book yet. Check the hours below and save to start; then add a service.");
  const zones = h("datalist", { id: "booking-zones" }, timeZones().map((z) => h("option", { value: z })));
  const enabled = checkbox("This bot books appointments in the chat", { name: "enabled", checked: current.enabled !== false, disabled, "data-testid": "booking-enabled" });
  const zone = h("input", { name: "time_zone", list: "booking-zones", value: current.time_zone, disabled, required: true, "data-testid": "booking-time-zone", autocomplete: "off" });
  const number = (name, value, attrs) => h("input", { name, type: "number", value, disabled, "data-testid": `booking-${name.replaceAll("_", "-")}`, ...attrs });
  const notify = current.notify || {};
  const emails = h("textarea", { name: "notify.emails", rows: 2, disabled, "data-testid": "booking-notify-emails", placeholder: "you@example.com" });
  emails.value = (notify.emails || []).join("\n");
  const webhook = h("input", { name: "notify.webhook_url", type: "url", value: notify.webhook_url || "", disabled, "data-testid": "booking-webhook-url", placeholder: "https://example.com/hooks/bookings" });
  const rotate = checkbox("Issue a new signing secret", { name: "rotate_webhook_secret", disabled, "data-testid": "booking-rotate-secret" });
  const secretState = h("p", { class: "hint", "data-testid": "booking-secret-state" });
  const secretShown = h("div", { "aria-live": "polite" });
  const showSecretState = (s) => {
    secretState.textContent = s.has_webhook_secret
      ? "The webhook has a signing secret (shown once, when it was issued)."
      : "A webhook URL gets a signing secret when you save; it is shown once.";
    if (s.webhook_secret) {
      mount(
        secretShown,
        h(
          "div",
          { class: "secret", "data-testid": "booking-webhook-secret" },
          h("p", {}, h("strong", {}, "The webhook's signing secret: "), "copy it now, it is not shown again."),
          h("code", { class: "snippet" }, s.webhook_secret),
          copyButton(() => s.webhook_secret, { label: "Copy the secret" }),
        ),
      );
    }
  };
  showSecretState(current);
  const reminders = h("input", { name: "reminder_hours", value: (current.reminder_hours || []).join(", "), disabled, "data-testid": "booking-reminders", placeholder: "24, 2" });
  const followUp = number("follow_up_hours", current.follow_up_hours ?? "", { min: 1, max: 720, placeholder: "off" });
  const days = WEEKDAYS.map((day) => dayRow(day, (current.hours || {})[day.iso] || (current.hours || {})[String(day.iso)] || [], disabled));

  const saved = h("span", { class: "saved", role: "status", "aria-live": "polite", "data-testid": "booking-saved" });
  const save = h("button", { type: "submit", class: "primary", disabled, "data-testid": "save-booking-settings" }, configured ? "Save" : "Start booking");
  const form = h(
    "form",
    { class: "form", "aria-label": "Booking settings" },
    enabled,
    h("p", { class: "hint" }, "Off: the bot answers questions as before and offers no appointments; existing bookings stay."),
    field("Time zone of the business", zone, "Opening hours and closed days are in this zone; visitors see times in their own."),
    zones,
    h("fieldset", { class: "hours", name: "hours", "data-testid": "booking-hours" }, h("legend", {}, "Opening hours"), h("p", { class: "hint" }, "The times appointments may start and end. A day with no hours is closed."), days.map((d) => d.row)),
    h(
      "div",
      { class: "grid-2" },
      field("Buffer after each appointment (minutes)", number("buffer_min", current.buffer_min, { min: 0, max: 240 }), "Kept free after an appointment, for tidying up or travel."),
      field("Minimum notice (minutes)", number("min_notice_min", current.min_notice_min, { min: 0, max: 43200 }), "No slot starts sooner than this from now."),
      field("Book up to (days ahead)", number("horizon_days", current.horizon_days, { min: 1, max: 730 })),
      field("Slots start every (minutes)", number("slot_step_min", current.slot_step_min, { min: 5, max: 240 }), "15: 9:00, 9:15, 9:30 …"),
      field("Reminder mails (hours before)", reminders, "Comma-separated; empty: no reminders."),
      field("Follow-up after a lead's conversation (hours)", followUp, "Empty: no follow-up mail."),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Who is told of bookings"),
      field("E-mail addresses (one per line)", emails, "Each booking, change and cancellation is mailed here."),
      field("Webhook URL (optional)", webhook, "Each booking, change and cancellation is POSTed there as JSON, signed with HMAC-SHA256 (see docs/workflows.md)."),
      secretState,
      rotate,
      secretShown,
    ),
    h("div", { class: "actions" }, save, saved),
  );
  form.addEventListener("input", () => (saved.textContent = ""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const hours = {};
    for (const d of days) {
      const spans = d.spans();
      if (spans.length) hours[String(d.iso)] = spans;
    }
    const body = {
      enabled: enabled.querySelector("input").checked,
      time_zone: zone.value.trim(),
      hours,
      buffer_min: Number(form.buffer_min.value || 0),
      min_notice_min: Number(form.min_notice_min.value || 0),
      horizon_days: Number(form.horizon_days.value || 0),
      slot_step_min: Number(form.slot_step_min.value || 0),
      reminder_hours: reminders.value
        .split(/[,\s]+/)
        .filter(Boolean)
        .map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
      follow_up_hours: followUp.value === "" ? null : Number(followUp.value),
      notify: { emails: lines(emails.value), webhook_url: webhook.value.trim() || null },
      rotate_webhook_secret: rotate.querySelector("input").checked,
    };
    const updated = await run(save, () => api("PUT", `${SCHEDULE}/settings/${bot.id}`, { body }), { form, context: "Could not save the booking settings" });
    if (updated) {
      saved.textContent = "Saved.";
      save.textContent = "Save";
      notSetUp.hidden = true;
      rotate.querySelector("input").checked = false;
      mount(secretShown);
      showSecretState(updated);
      await onSaved();
    }
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "booking-settings-title" },
    h("h2", { id: "booking-settings-title" }, `How ${bot.name} books`),
    notSetUp,
    form,
  );
}

/** One weekday's opening spans: pairs of time fields, added and removed freely (none: closed). */
function dayRow(day, spans, disabled) {
  const list = h("div", { class: "spans" });
  const closed = h("span", { class: "muted closed-label" }, "Closed");
  const addSpan = (from = "09:00", to = "17:00") => {
    const start = h("input", { type: "time", value: from, step: 300, disabled, "aria-label": `${day.label} opens`, "data-testid": `hours-${day.iso}-from` });
    const end = h("input", { type: "time", value: to, step: 300, disabled, "aria-label": `${day.label} closes`, "data-testid": `hours-${day.iso}-to` });
    const remove = h("button", { type: "button", class: "link small", disabled, "aria-label": `Remove these ${day.label} hours` }, "Remove");
    const span = h("span", { class: "span" }, start, "–", end, remove);
    remove.addEventListener("click", () => {
      span.remove();
      refresh();
    });
    list.append(span);
    refresh();
  };
  const refresh = () => (closed.hidden = list.children.length > 0);
  const more = h("button", { type: "button", class: "small", disabled, "data-testid": `hours-${day.iso}-add` }, "+ Hours");
  more.addEventListener("click", () => {
    const last = [...list.querySelectorAll("input")].at(-1);
    addSpan(last ? last.value : "09:00", "17:00");
  });
  for (const [from, to] of spans) addSpan(from.slice(0, 5), to.slice(0, 5));
  refresh();
  const row = h("div", { class: "day-row", "data-testid": `hours-${day.iso}` }, h("span", { class: "day-name" }, day.label), list, closed, more);
  return {
    iso: day.iso,
    row,
    spans: () => [...list.querySelectorAll(".span")].map((span) => [...span.querySelectorAll("input")].map((input) => input.value)).filter(([a, b]) => a && b),
  };
}

// -- services, resources, closures ----------------------------------------------------------------

/** A card listing one bot's items of a kind, with an add form and delete. */
function listCard(ctx, spec) {
  const { bot, canEdit, path, what, testid } = spec;
  const holder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, `Loading ${spec.title.toLowerCase()}…`));
  const load = async () => {
    let items;
    try {
      items = await get(path, { query: { bot_id: bot.id }, signal: ctx.signal });
    } catch (error) {
      mount(holder, h("p", { class: "muted" }, `The ${spec.title.toLowerCase()} could not be loaded.`));
      return showError(error, { context: `Could not load the ${spec.title.toLowerCase()}` });
    }
    if (spec.loaded) spec.loaded(items);
    if (!items.length) return mount(holder, empty(spec.empty));
    mount(
      holder,
      h(
        "table",
        { class: "table compact" },
        h("thead", {}, h("tr", {}, [...spec.columns.map(([label]) => label), ""].map((label) => h("th", { scope: "col" }, label)))),
        h(
          "tbody",
          {},
          items.map((item) => {
            const remove = h("button", { type: "button", class: "danger small", disabled: !canEdit, "data-testid": `delete-${testid}` }, "Delete");
            remove.addEventListener("click", async () => {
              if (!(await confirmAction(`Delete this ${what}?`))) return;
              const done = await run(remove, () => del(`${path}/${item.id}`), { context: `Could not delete the ${what}` });
              if (done !== undefined) await load();
            });
            const edit = h("button", { type: "button", class: "small", disabled: !canEdit, "data-testid": `edit-${testid}` }, "Edit");
            edit.addEventListener("click", () => editDialog(spec, item, load));
            return h("tr", { "data-testid": `${testid}-row`, "data-id": item.id }, spec.columns.map(([, cell]) => h("td", {}, cell(item))), h("td", {}, h("div", { class: "row-actions" }, edit, remove)));
          }),
        ),
      ),
    );
  };
  let form = null;
  if (canEdit) {
    const submit = h("button", { type: "submit", "data-testid": `add-${testid}` }, `Add ${what}`);
    form = h("form", { class: "form add-form", "aria-label": `Add a ${what}` }, h("div", { class: "row" }, spec.form()), h("div", { class: "actions" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const created = await run(submit, () => post(path, { bot_id: bot.id, ...spec.body(form) }), { form, context: `Could not add the ${what}` });
      if (created) {
        form.reset();
        await load();
      }
    });
  }
  const card = h("section", { class: "card", "data-testid": `${testid}s` }, h("h2", {}, spec.title), h("p", { class: "hint" }, spec.hint), holder, form);
  return { card, load };
}

/** Change one item in a dialog holding its add form's fields, filled in (PATCH of those fields). */
function editDialog(spec, item, onDone) {
  const save = h("button", { type: "submit", class: "primary", "data-testid": `save-${spec.testid}` }, "Save");
  const cancel = h("button", { type: "button" }, "Cancel");
  const form = h("form", { class: "form", "aria-label": `Change the ${spec.what}` }, spec.form(), h("div", { class: "actions" }, cancel, save));
  for (const control of form.querySelectorAll("[name]")) {
    const value = item[control.name];
    if (value !== undefined && value !== null) control.value = String(value);
    control.removeAttribute("data-testid");
  }
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "edit-title", "data-testid": `edit-${spec.testid}-dialog` }, h("h2", { id: "edit-title" }, `Change the ${spec.what}`), form);
  const close = () => (dialog.close(), dialog.remove());
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changed = await run(save, () => patch(`${spec.path}/${item.id}`, spec.body(form)), { form, context: `Could not change the ${spec.what}` });
    if (changed) {
      close();
      await onDone();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}
