// One bot: a header and tabs (settings, appearance, embed, knowledge), each its own module.

import { get } from "../api.js";
import { add, h, showError } from "../dom.js";
import renderSettings from "./bot-settings.js";
import renderAppearance from "./bot-appearance.js";
import renderEmbed from "./bot-embed.js";
import renderKnowledge from "./bot-knowledge.js";

const TABS = [
  { id: "settings", label: "Settings", render: renderSettings },
  { id: "appearance", label: "Appearance", render: renderAppearance },
  { id: "embed", label: "Embed", render: renderEmbed },
  { id: "knowledge", label: "Knowledge", render: renderKnowledge },
];

export default async function renderBot(root, ctx) {
  const { botId } = ctx.params;
  const tabId = ctx.params.tab || "settings";
  const tab = TABS.find((t) => t.id === tabId) || TABS[0];

  const title = h("h1", {}, "Bot");
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: "#/bots" }, "Bots"), " / "),
    h("div", { class: "page-head" }, title),
    h(
      "nav",
      { class: "tabs", "aria-label": "Bot sections" },
      TABS.map((t) =>
        h(
          "a",
          { href: `#/bots/${botId}${t.id === "settings" ? "" : `/${t.id}`}`, "aria-current": t.id === tab.id ? "page" : null, "data-testid": `tab-${t.id}` },
          t.label,
        ),
      ),
    ),
  );
  const body = h("section", { class: "tab-body", "aria-label": tab.label });
  add(root, body);

  let bot;
  try {
    bot = await get(`/api/bots/${botId}`, { signal: ctx.signal });
  } catch (error) {
    body.append(h("p", {}, "This bot could not be loaded. ", h("a", { href: "#/bots" }, "Back to bots")));
    return showError(error, { context: "Could not load the bot" });
  }
  const showName = (b) => {
    title.textContent = b.name;
    ctx.setTitle(`${b.name} · ${tab.label}`);
  };
  showName(bot);
  await tab.render(body, ctx, bot, (updated) => {
    bot = updated;
    showName(updated);
  });
}
