// Every bot of the workspace, and a form to create one.

import { get, post } from "../api.js";
import { add, empty, field, fmtDate, h, mount, run, showError } from "../dom.js";

export default async function renderBots(root, ctx) {
  const list = h("div", { class: "bot-list", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading bots…"));
  const name = h("input", { name: "name", maxlength: 120, required: true, placeholder: "e.g. Support bot", "data-testid": "new-bot-name" });
  const create = h("button", { type: "submit", class: "primary", "data-testid": "create-bot" }, "Create bot");
  const form = h("form", { class: "inline-form card", "aria-labelledby": "new-bot-title" }, h("h2", { id: "new-bot-title" }, "New bot"), h("div", { class: "row" }, field("Bot name", name), create));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const bot = await run(create, () => post("/api/bots", { name: name.value }), { form, context: "Could not create the bot" });
    if (bot) ctx.navigate(`#/bots/${bot.id}`);
  });

  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Bots"), h("p", { class: "muted" }, "Each bot has its own knowledge, settings and widget.")),
    ctx.hasRole("admin") ? form : h("p", { class: "muted" }, "Only admins and owners can create bots."),
    list,
  );

  let bots;
  try {
    bots = await get("/api/bots", { signal: ctx.signal });
  } catch (error) {
    mount(list, h("p", { class: "muted" }, "The bots could not be loaded."));
    return showError(error, { context: "Could not load bots" });
  }
  if (!bots.length) {
    mount(list, empty("No bots yet — create one above: give it a name, then teach it with files, FAQs or your website."));
    name.focus();
    return;
  }
  mount(
    list,
    h(
      "table",
      { class: "table" },
      h("caption", { class: "sr-only" }, "Bots"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Language"), h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Updated"))),
      h(
        "tbody",
        {},
        bots.map((bot) =>
          h(
            "tr",
            { "data-testid": "bot-row" },
            h("td", {}, h("a", { href: `#/bots/${bot.id}` }, bot.name)),
            h("td", {}, bot.language),
            h("td", {}, `${bot.llm.backend}${bot.llm.model ? ` · ${bot.llm.model}` : ""}`),
            h("td", {}, fmtDate(bot.updated_at)),
          ),
        ),
      ),
    ),
  );
}
