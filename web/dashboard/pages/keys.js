// Keys: API keys for server-to-server calls (secret shown once), and every bot's widget keys.

import { del, get, post } from "../api.js";
import { add, checkbox, confirmAction, copyButton, empty, field, fmtDate, h, mount, run, showError } from "../dom.js";

const PERMISSIONS = [
  // Each grants what the matching role may do (cortex/http/security.py API_KEY_PERMISSIONS).
  ["read", "read — as a viewer: bots, knowledge and conversations"],
  ["reply", "reply — as an agent: also chat and take conversations over"],
  ["manage", "manage — as an admin: also change bots and knowledge (never members or keys)"],
];

export default async function renderKeys(root, ctx) {
  const apiList = h("div", { class: "stack", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading API keys…"));
  const widgetList = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading widget keys…"));
  const secretBox = h("div", { "aria-live": "polite" });

  const loadApiKeys = async () => {
    let keys;
    try {
      keys = await get("/api/auth/api-keys", { signal: ctx.signal });
    } catch (error) {
      mount(apiList, h("p", { class: "muted" }, "The API keys could not be loaded."));
      return showError(error, { context: "Could not load API keys" });
    }
    const active = keys.filter((k) => !k.revoked_at);
    const revoked = keys.filter((k) => k.revoked_at);
    mount(
      apiList,
      active.length
        ? h(
            "table",
            { class: "table" },
            h("caption", { class: "sr-only" }, "API keys"),
            h("thead", {}, h("tr", {}, ["Name", "Key", "Permissions", "Created", "Last used", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
            h("tbody", {}, active.map((key) => apiKeyRow(key, loadApiKeys))),
          )
        : empty("No API keys — create one to call the Cortex API from your own server."),
      revoked.length
        ? h(
            "details",
            { class: "revoked" },
            h("summary", {}, `${revoked.length} revoked key${revoked.length > 1 ? "s" : ""}`),
            h("ul", {}, revoked.map((k) => h("li", {}, `${k.name} (`, h("code", {}, k.prefix), `…) — revoked ${fmtDate(k.revoked_at)}`))),
          )
        : null,
    );
  };

  const name = h("input", { name: "name", maxlength: 120, required: true, placeholder: "e.g. CRM sync", "data-testid": "api-key-name" });
  const boxes = PERMISSIONS.map(([value, label]) => checkbox(label, { name: "permissions", value, checked: value === "read", "data-testid": `api-key-perm-${value}` }));
  const create = h("button", { type: "submit", class: "primary", "data-testid": "create-api-key" }, "Create API key");
  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "api-key-title" },
    h("h2", { id: "api-key-title" }, "API keys"),
    h("p", { class: "hint" }, "For your own servers calling Cortex. Never put an API key in a web page: use a widget key there."),
    field("Name", name),
    h("fieldset", {}, h("legend", {}, "Permissions"), h("div", { class: "checks vertical" }, boxes)),
    h("div", { class: "actions" }, create),
    secretBox,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const permissions = [...form.querySelectorAll('input[name="permissions"]:checked')].map((box) => box.value);
    const key = await run(create, () => post("/api/auth/api-keys", { name: name.value, permissions }), { form, context: "Could not create the API key" });
    if (!key) return;
    name.value = "";
    mount(
      secretBox,
      h(
        "div",
        { class: "secret", role: "alert", "data-testid": "api-key-secret-box" },
        h("p", {}, h("strong", {}, "Copy this secret now. "), "It is shown only once; Cortex keeps only a hash of it. If you lose it, revoke the key and create another."),
        h("pre", { class: "snippet" }, h("code", { "data-testid": "api-key-secret" }, key.secret)),
        h(
          "div",
          { class: "actions" },
          copyButton(() => key.secret, { label: "Copy secret", testid: "copy-api-key-secret" }),
          h("button", { type: "button", onclick: () => secretBox.replaceChildren() }, "I have stored it — hide"),
        ),
      ),
    );
    await loadApiKeys();
  });

  const loadWidgetKeys = async () => {
    let keys;
    let bots = [];
    try {
      [keys, bots] = await Promise.all([get("/api/auth/widget-keys", { signal: ctx.signal }), get("/api/bots", { signal: ctx.signal })]);
    } catch (error) {
      mount(widgetList, h("p", { class: "muted" }, "The widget keys could not be loaded."));
      return showError(error, { context: "Could not load widget keys" });
    }
    const botNames = new Map(bots.map((b) => [b.id, b.name]));
    const active = keys.filter((k) => !k.revoked_at);
    mount(
      widgetList,
      active.length
        ? h(
            "table",
            { class: "table" },
            h("caption", { class: "sr-only" }, "Widget keys"),
            h("thead", {}, h("tr", {}, ["Bot", "Public key", "Allowed origins", "Created", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
            h("tbody", {}, active.map((key) => widgetKeyRow(key, botNames, loadWidgetKeys))),
          )
        : empty("No widget keys — open a bot's Embed tab to create one for your website."),
    );
  };

  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "API & widget keys")),
    form,
    apiList,
    h("section", { class: "card", "aria-labelledby": "widget-keys-title" }, h("h2", { id: "widget-keys-title" }, "Widget keys"), h("p", { class: "hint" }, "Public keys that put a bot on a website. Each works only on the origins listed for it; edit them on the bot's Embed tab."), widgetList),
  );
  await Promise.all([loadApiKeys(), loadWidgetKeys()]);
}

function apiKeyRow(key, reload) {
  const revoke = h("button", { type: "button", class: "small danger", "data-testid": "revoke-api-key" }, "Revoke");
  revoke.addEventListener("click", async () => {
    const ok = await confirmAction(`Revoke the API key “${key.name}”? Anything using it stops working at once.`, { action: "Revoke key" });
    if (ok && (await run(revoke, async () => (await del(`/api/auth/api-keys/${key.id}`), true), { context: "Could not revoke the key" }))) await reload();
  });
  return h(
    "tr",
    { "data-testid": "api-key-row" },
    h("td", {}, key.name),
    h("td", {}, h("code", {}, `${key.prefix}…`)),
    h("td", {}, key.permissions.map((p) => h("span", { class: "tag" }, p))),
    h("td", {}, fmtDate(key.created_at)),
    h("td", {}, key.last_used_at ? fmtDate(key.last_used_at) : h("span", { class: "muted" }, "never")),
    h("td", {}, revoke),
  );
}

function widgetKeyRow(key, botNames, reload) {
  const revoke = h("button", { type: "button", class: "small danger", "data-testid": "revoke-widget-key" }, "Revoke");
  revoke.addEventListener("click", async () => {
    const ok = await confirmAction(`Revoke the widget key ${key.public_key}? Every site using it stops showing the chat at once.`, { action: "Revoke key" });
    if (ok && (await run(revoke, async () => (await del(`/api/auth/widget-keys/${key.id}`), true), { context: "Could not revoke the key" }))) await reload();
  });
  const botName = botNames.get(key.bot_id);
  return h(
    "tr",
    { "data-testid": "widget-key-row" },
    h("td", {}, botName ? h("a", { href: `#/bots/${key.bot_id}/embed` }, botName) : h("span", { class: "muted" }, "(deleted bot)")),
    h("td", {}, h("code", {}, key.public_key)),
    h("td", {}, key.allowed_origins.length ? h("ul", { class: "plain" }, key.allowed_origins.map((o) => h("li", {}, o))) : h("span", { class: "warn-text" }, "none — works nowhere")),
    h("td", {}, fmtDate(key.created_at)),
    h("td", {}, revoke),
  );
}
