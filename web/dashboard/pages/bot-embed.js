// Put the bot on a website: its widget keys, the origins allowed to use each, and the snippet.

import { api, del, get, patch, post } from "../api.js";
import { add, checkbox, confirmAction, copyButton, empty, field, fmtDate, h, lines, mount, run, showError } from "../dom.js";

/** The tag a site owner pastes into their pages. */
export function embedSnippet(publicKey) {
  return `<script src="${location.origin}/embed.js" data-bot-key="${publicKey}" async></script>`;
}

export default async function renderEmbed(root, ctx, bot) {
  const canEdit = ctx.hasRole("admin");
  const list = h("div", { class: "keys", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading widget keys…"));
  const create = h("button", { type: "button", class: "primary", "data-testid": "create-widget-key", disabled: !canEdit }, "Create widget key");

  const reload = async () => {
    let keys;
    try {
      keys = (await get("/api/auth/widget-keys", { signal: ctx.signal })).filter((key) => key.bot_id === bot.id);
    } catch (error) {
      mount(list, h("p", { class: "muted" }, "The widget keys could not be loaded."));
      return showError(error, { context: "Could not load widget keys" });
    }
    const active = keys.filter((key) => !key.revoked_at);
    const revoked = keys.filter((key) => key.revoked_at);
    mount(
      list,
      active.length ? active.map((key) => keyCard(key, { canEdit, reload })) : empty("No widget key yet — create one to get the code to paste into your site."),
      revoked.length
        ? h(
            "details",
            { class: "revoked" },
            h("summary", {}, `${revoked.length} revoked key${revoked.length > 1 ? "s" : ""}`),
            h("ul", {}, revoked.map((key) => h("li", {}, h("code", {}, key.public_key), ` — revoked ${fmtDate(key.revoked_at)}`))),
          )
        : null,
    );
  };

  create.addEventListener("click", async () => {
    const key = await run(create, () => post("/api/auth/widget-keys", { bot_id: bot.id, allowed_origins: [] }), { context: "Could not create a widget key" });
    if (key) {
      await reload();
      const input = list.querySelector(`[data-key-id="${key.id}"] textarea`);
      if (input) input.focus();
    }
  });

  if (!canEdit) {
    // Listing widget keys is an admin's call (GET /api/auth/widget-keys): say so instead of a 403.
    add(root, h("p", { class: "notice" }, "Widget keys and the embed snippet are managed by admins and owners."));
    return;
  }
  add(root, 
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Put the chat on your website"),
      h(
        "ol",
        { class: "steps" },
        h("li", {}, "Create a widget key."),
        h("li", {}, "List every website origin that may show the chat, like https://www.example.com (scheme, host and port; no path)."),
        h("li", {}, "Paste the snippet before </body> on those sites."),
      ),
      h(
        "p",
        { class: "notice" },
        h("strong", {}, "Only the origins you list can use a key. "),
        "A key with no origins works nowhere, and a copied snippet on any other site is refused.",
      ),
      canEdit ? create : h("p", { class: "muted" }, "Only admins and owners can manage widget keys."),
    ),
    list,
  );
  await reload();
}

function keyCard(key, { canEdit, reload }) {
  const origins = h("textarea", {
    name: "allowed_origins",
    rows: Math.max(3, key.allowed_origins.length + 1),
    placeholder: "One origin per line, e.g. https://www.example.com",
    spellcheck: "false",
    "data-testid": "origins-input",
    disabled: !canEdit,
  });
  origins.value = key.allowed_origins.join("\n");
  const save = h("button", { type: "submit", class: "primary", "data-testid": "save-origins", disabled: !canEdit }, "Save origins");
  const addOrigin = h(
    "button",
    { type: "button", "data-testid": "add-origin", disabled: !canEdit, title: "Adds this dashboard's own origin, for trying the widget on a test page here" },
    `Add ${location.origin}`,
  );
  const saved = h("span", { class: "saved", role: "status", "aria-live": "polite" });
  addOrigin.addEventListener("click", () => {
    const current = lines(origins.value);
    if (!current.includes(location.origin)) origins.value = [...current, location.origin].join("\n");
    markUnsaved();
    origins.focus();
  });
  const markUnsaved = () => {
    saved.textContent = "Not saved yet.";
    saved.className = "saved pending";
  };
  const markSaved = (list) => {
    saved.textContent = list.length ? "Saved." : "Saved — with no origins this key works nowhere.";
    saved.className = list.length ? "saved" : "saved pending";
  };
  origins.addEventListener("input", markUnsaved);
  if (!key.allowed_origins.length) {
    saved.textContent = "No origins yet: this key works nowhere.";
    saved.className = "saved pending";
  }

  const form = h(
    "form",
    { class: "form" },
    field("Allowed origins (one per line)", origins, "Only these sites can use this key."),
    h("div", { class: "actions" }, save, addOrigin, saved),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const updated = await run(save, () => patch(`/api/auth/widget-keys/${key.id}`, { allowed_origins: lines(origins.value) }), { form, context: "Could not save the origins" });
    if (updated) {
      origins.value = updated.allowed_origins.join("\n"); // the server's normalised, sorted list
      markSaved(updated.allowed_origins);
    }
  });

  const snippet = embedSnippet(key.public_key);
  const revoke = h("button", { type: "button", class: "danger", "data-testid": "revoke-widget-key", disabled: !canEdit }, "Revoke key");
  revoke.addEventListener("click", async () => {
    const ok = await confirmAction(`Revoke the widget key ${key.public_key}? Every site using it stops showing the chat at once.`, { action: "Revoke key" });
    if (ok && (await run(revoke, async () => (await del(`/api/auth/widget-keys/${key.id}`), true), { context: "Could not revoke the key" }))) await reload();
  });

  return h(
    "section",
    { class: "card key-card", "data-key-id": key.id, "data-testid": "widget-key", "aria-label": `Widget key ${key.public_key}` },
    h("div", { class: "key-head" }, h("h3", {}, "Key ", h("code", {}, key.public_key)), h("span", { class: "muted" }, `created ${fmtDate(key.created_at)}`)),
    form,
    h("h4", {}, "Snippet"),
    h("pre", { class: "snippet" }, h("code", { "data-testid": "embed-snippet" }, snippet)),
    h("div", { class: "actions" }, copyButton(() => snippet, { label: "Copy snippet", testid: "copy-snippet" }), revoke),
    identityBlock(key, { canEdit }),
  );
}

/** Identity verification: the key's secret (shown once) and whether visitors must be vouched for. */
function identityBlock(key, { canEdit }) {
  let hasSecret = key.has_identity_secret;
  const shown = h("div", { class: "identity-secret", "aria-live": "polite" });
  const create = h("button", { type: "button", "data-testid": "create-identity-secret", disabled: !canEdit }, hasSecret ? "Replace identity secret" : "Create identity secret");
  const required = checkbox("Require verified visitors (a valid user_hash from your server)", {
    "data-testid": "identity-required",
    checked: key.identity_required,
    disabled: !canEdit || !hasSecret,
  });
  const input = required.querySelector("input");
  create.addEventListener("click", async () => {
    if (hasSecret && !(await confirmAction("Replace the identity secret? Hashes your server makes with the old one stop verifying at once.", { action: "Replace secret" }))) return;
    const made = await run(create, () => post(`/api/auth/widget-keys/${key.id}/identity-secret`), { context: "Could not create the identity secret" });
    if (!made) return;
    hasSecret = true;
    create.textContent = "Replace identity secret";
    input.disabled = !canEdit;
    mount(shown, h("p", { class: "notice" }, "Copy it now to your server's secret store; it is not shown again: ", h("code", { "data-testid": "identity-secret" }, made.identity_secret)),
      copyButton(() => made.identity_secret, { label: "Copy secret" }));
  });
  input.addEventListener("change", async () => {
    const wanted = input.checked;
    const saved = await run(input, () => api("PUT", `/api/auth/widget-keys/${key.id}/identity-verification`, { body: { required: wanted } }), { context: "Could not change identity verification" });
    input.checked = saved ? saved.identity_required : !wanted;
  });
  return h("details", { class: "identity" },
    h("summary", {}, key.identity_required ? "Identity verification: required" : "Identity verification"),
    h("p", { class: "muted" }, "Your server signs its signed-in user's id (HMAC-SHA256 with this key's secret) and the page passes user_id and user_hash to the widget: see docs/embedding.md."),
    h("div", { class: "actions" }, create, required), shown);
}
