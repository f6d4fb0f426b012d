// Knowledge › Search tester: what the bot would retrieve for a question, with scores.

import { get, post } from "../api.js";
import { add, empty, field, h, mount, run, safeUrl, showError } from "../dom.js";

export default function renderSearch(root, ctx, bot) {
  const query = h("input", { type: "search", name: "query", maxlength: 2000, required: true, placeholder: "Ask what a customer would ask", "data-testid": "search-query" });
  const k = h("input", { type: "number", name: "k", min: 1, max: 200, value: 5, "data-testid": "search-k" });
  const mode = h(
    "select",
    { name: "mode", "data-testid": "search-mode" },
    h("option", { value: "hybrid" }, "Hybrid (as chat uses it)"),
    h("option", { value: "dense" }, "Dense (meaning)"),
    h("option", { value: "lexical" }, "Lexical (words, BM25)"),
  );
  const kind = h(
    "select",
    { name: "filters.kinds", "data-testid": "search-kind" },
    h("option", { value: "" }, "All knowledge"),
    h("option", { value: "file" }, "Files"),
    h("option", { value: "collection" }, "Collections"),
    h("option", { value: "crawl" }, "Website"),
    h("option", { value: "faq" }, "FAQs"),
  );
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "search-submit" }, "Search");
  const results = h("div", { class: "search-results", "aria-live": "polite", "data-testid": "search-results" });
  const form = h(
    "form",
    { class: "form", "aria-label": "Search tester" },
    h("p", { class: "hint" }, "Try a question to see which passages the bot would be given to answer it."),
    h("div", { class: "row" }, h("div", { class: "grow" }, field("Question", query)), field("Results", k), field("Mode", mode), field("In", kind), submit),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { bot_id: bot.id, query: query.value, k: Number(k.value) || 5, mode: mode.value };
    if (kind.value) body.filters = { kinds: [kind.value] };
    const out = await run(submit, () => post("/api/knowledge/search", body), { form, context: "Search failed" });
    if (!out) return;
    const sources = await sourceNames(bot.id);
    if (!out.passages.length) {
      mount(results, empty("Nothing found. Add files, FAQs or a website crawl that answer this, then try again."));
      return;
    }
    mount(
      results,
      h("p", { class: "muted" }, `${out.passages.length} passage${out.passages.length === 1 ? "" : "s"} in ${Math.round(out.took_ms)} ms`),
      h(
        "ol",
        { class: "passages" },
        out.passages.map((p) => {
          const link = safeUrl(p.url);
          return h(
            "li",
            { class: "passage", "data-testid": "search-result" },
            h("div", { class: "passage-head" }, link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, p.title || p.url) : h("strong", {}, p.title || "(untitled)")),
            h(
              "div",
              { class: "passage-meta muted" },
              `source: ${sources.get(p.source) || p.source}`,
              ` · score ${p.score.toFixed(4)}`,
              ` · similarity ${p.similarity.toFixed(3)}`,
            ),
            h("p", { class: "snippet-text" }, p.snippet),
          );
        }),
      ),
    );
  });

  add(root, form, results);
}

/** Source id → its name, so results say "price-list.pdf" instead of a UUID. */
async function sourceNames(botId) {
  try {
    const sources = await get("/api/knowledge/sources", { query: { bot_id: botId } });
    return new Map(sources.map((s) => [s.id, s.kind === "faq" ? "FAQs" : s.name]));
  } catch (error) {
    showError(error, { context: "Could not load the source names (results show their ids)" });
    return new Map();
  }
}
