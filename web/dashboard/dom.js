// Small DOM helpers shared by every page. API strings only ever reach the page as text nodes or
// attribute values set through the DOM: nothing here parses HTML.

import { ApiError, isAbort } from "./api.js";

const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "hidden", "indeterminate", "multiple", "required"]);

/**
 * Create an element: h("button", {class: "primary", onclick: fn, "data-testid": "x"}, "Save").
 * Children may be strings, numbers, nodes, arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  // The server validates every field and its messages are shown beside them; the browser's own
  // validation bubbles would pre-empt those (and differ between browsers).
  if (tag === "form") element.noValidate = true;
  let lateValue;
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "value" && value !== undefined && value !== null) {
      lateValue = value; // after the children: a <select> needs its options first
      continue;
    }
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key === "for") {
      element.htmlFor = value;
    } else if (PROPERTIES.has(key)) {
      element[key] = value;
    } else if (key === "text") {
      element.textContent = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  if (lateValue !== undefined) element.value = lateValue;
  return element;
}

/** Append children to an element, skipping null/false (so `cond ? node : null` can be passed). */
export function add(parent, ...children) {
  append(parent, children);
  return parent;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function mount(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

let fieldIds = 0;
/** A labelled form control: field("Name", h("input", {name: "name"}), "hint"). */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldIds}`;
  const hintNode = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintNode);
}

/** A checkbox with its label on the right. */
export function checkbox(label, attrs) {
  const input = h("input", { type: "checkbox", ...attrs });
  return h("label", { class: "check" }, input, " ", label);
}

// -- errors ---------------------------------------------------------------------------------------

let banner = null;
export function setBanner(element) {
  banner = element;
}

/** Show an API error (or any error) plainly in the page's error banner. */
export function showError(error, { context } = {}) {
  if (isAbort(error)) return;
  if (!banner) return console.warn(error);
  const apiError = error instanceof ApiError ? error : null;
  const meta = apiError
    ? [apiError.status ? `HTTP ${apiError.status}` : null, apiError.code, apiError.requestId && `request ${apiError.requestId}`]
        .filter(Boolean)
        .join(" · ")
    : "";
  const details = apiError && apiError.details ? apiError.details : [];
  mount(
    banner,
    h(
      "div",
      { class: "banner-body" },
      h("strong", {}, context ? `${context}: ` : "Error: "),
      h("span", { class: "banner-message" }, error.message || String(error)),
      meta ? h("div", { class: "banner-meta" }, meta) : null,
      details.length
        ? h(
            "ul",
            { class: "banner-details" },
            details.map((d) => h("li", {}, d.field ? `${d.field}: ${d.message}` : d.message || JSON.stringify(d))),
          )
        : null,
    ),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss error", onclick: clearError }, "Dismiss"),
  );
  banner.hidden = false;
  if (!apiError) console.error(error);
}

export function clearError() {
  if (!banner) return;
  banner.hidden = true;
  banner.replaceChildren();
}

/** Put a 422's field errors next to the matching controls (by their `name`) in `form`. */
export function showFieldErrors(form, error) {
  clearFieldErrors(form);
  if (!(error instanceof ApiError) || !error.details) return;
  for (const detail of error.details) {
    if (!detail || !detail.field) continue;
    let parts = String(detail.field).split(".");
    if (["body", "query", "path", "form"].includes(parts[0])) parts = parts.slice(1);
    let control = null;
    while (parts.length && !control) {
      control = form.querySelector(`[name="${CSS.escape(parts.join("."))}"]`);
      parts = parts.slice(0, -1);
    }
    if (!control) continue;
    const holder = control.closest(".field, .check, fieldset") || control;
    const note = h("p", { class: "field-error", id: `${control.id || "x"}-error-${Math.random().toString(36).slice(2, 7)}` }, detail.message);
    holder.append(note);
    control.setAttribute("aria-invalid", "true");
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    control.setAttribute("aria-describedby", [...described, note.id].join(" "));
  }
}

export function clearFieldErrors(form) {
  if (!form) return;
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const kept = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.includes("-error-"));
    if (kept.length) control.setAttribute("aria-describedby", kept.join(" "));
    else control.removeAttribute("aria-describedby");
  }
}

/**
 * Run a request for a button: the button is disabled (and marked busy) while it runs; an error
 * goes to the banner and, for a form, beside its fields. Resolves to the result, or undefined.
 */
export async function run(button, task, { form, context } = {}) {
  const buttons = Array.isArray(button) ? button : [button];
  for (const b of buttons) if (b) (b.disabled = true), b.setAttribute("aria-busy", "true");
  if (form) clearFieldErrors(form);
  try {
    const result = await task();
    clearError();
    return result;
  } catch (error) {
    if (isAbort(error)) return undefined;
    showError(error, { context });
    if (form) showFieldErrors(form, error);
    return undefined;
  } finally {
    for (const b of buttons) if (b) (b.disabled = false), b.removeAttribute("aria-busy");
  }
}

// -- confirmation ------------------------------------------------------------------------------

/** Ask before a destructive action; resolves true when confirmed. */
export function confirmAction(message, { action = "Delete", danger = true } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: danger ? "danger" : "primary", "data-testid": "confirm-ok" }, action);
    const cancel = h("button", { type: "button", "data-testid": "confirm-cancel" }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "data-testid": "confirm-dialog" },
      h("h2", { id: "confirm-title" }, "Are you sure?"),
      h("p", {}, message),
      h("div", { class: "actions" }, cancel, ok),
    );
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener("click", () => close(true));
    cancel.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", (event) => (event.preventDefault(), close(false)));
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// -- copy --------------------------------------------------------------------------------------

/** A button that copies `getText()` and says so. */
export function copyButton(getText, { label = "Copy", testid } = {}) {
  const status = h("span", { class: "copy-status", role: "status", "aria-live": "polite" });
  const button = h(
    "button",
    {
      type: "button",
      "data-testid": testid,
      onclick: async () => {
        const ok = await copyText(getText());
        status.textContent = ok ? "Copied" : "Copy failed: select the text and copy it by hand";
        setTimeout(() => (status.textContent = ""), 2500);
      },
    },
    label,
  );
  return h("span", { class: "copy" }, button, status);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

// -- formatting --------------------------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function fmtDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateTime.format(date);
}

export function fmtTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : timeOnly.format(date);
}

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A time element with the full timestamp as its machine value. */
export function timeEl(iso, format = fmtDate) {
  return iso ? h("time", { datetime: iso, title: iso }, format(iso)) : h("span", { class: "muted" }, "—");
}

/** Only http(s) links from API data become clickable (never javascript: or data:). */
export function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, location.origin);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** A friendly "nothing here yet" block with what to do next. */
export function empty(message, ...actions) {
  return h("div", { class: "empty" }, h("p", {}, message), actions.length ? h("div", { class: "actions" }, actions) : null);
}

/** A status pill; the raw API status is its text. */
export function pill(text, tone = "") {
  return h("span", { class: ["pill", tone && `pill-${tone}`] }, text);
}

/** Lines of a textarea, trimmed, blanks dropped. */
export function lines(text) {
  return String(text || "")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

// -- polling -----------------------------------------------------------------------------------

/**
 * Poll while there is work in progress: `load()` refreshes the view and resolves true while
 * something is still running. `kick()` starts polling (again); it stops when load() says done,
 * fails, or the page's signal aborts.
 */
export function poller(load, { signal, intervalMs = 2000 }) {
  let running = false;
  let again = false; // kicked while a round was loading: load once more before stopping
  const loop = async () => {
    running = true;
    try {
      while (!signal.aborted) {
        again = false;
        let active = false;
        try {
          active = await load();
        } catch (error) {
          showError(error, { context: "Could not refresh" });
          active = false;
        }
        if (signal.aborted) break;
        if (!active) {
          if (again) continue;
          break;
        }
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    } finally {
      running = false;
    }
  };
  return {
    kick() {
      again = true;
      if (!running) loop();
    },
  };
}

/** Keep one element per key in `container`, in `items` order: update existing ones, add new, drop gone. */
export function reconcile(container, items, key, create, update) {
  const existing = new Map([...container.children].map((node) => [node.dataset.key, node]));
  const wanted = [];
  for (const item of items) {
    const id = String(key(item));
    let node = existing.get(id);
    if (!node) {
      node = create(item);
      node.dataset.key = id;
    }
    update(node, item);
    wanted.push(node);
    existing.delete(id);
  }
  for (const node of existing.values()) node.remove();
  wanted.forEach((node, index) => {
    if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null);
  });
}
