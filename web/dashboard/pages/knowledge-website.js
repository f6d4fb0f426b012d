// Knowledge › Website: crawl a site, follow it live, pause / resume / cancel / re-crawl, see failures.

import { del, get, patch, post } from "../api.js";
import { add, confirmAction, empty, field, fmtDate, h, lines, mount, poller, reconcile, run, safeUrl } from "../dom.js";
import { IN_PROGRESS, statusTone } from "./knowledge-files.js";
import { numberValue } from "./bot-settings.js";

const COUNTS = [
  ["found", "found"],
  ["fetched", "fetched"],
  ["not_modified", "unchanged"],
  ["failed", "failed"],
  ["skipped", "skipped"],
  ["queued", "queued"],
];
const FAILED_PAGES_SHOWN = 100;

export default function renderWebsite(root, ctx, bot) {
  const canEdit = ctx.hasRole("admin");
  const list = h("div", { class: "crawls" });
  const listHolder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading crawls…"));

  const load = async () => {
    const crawls = await get("/api/knowledge/crawl", { query: { bot_id: bot.id }, signal: ctx.signal });
    if (!crawls.length) {
      mount(listHolder, empty("No website crawled yet — enter your site's address above and start a crawl."));
      list.replaceChildren();
      return false;
    }
    if (!listHolder.contains(list)) mount(listHolder, list);
    reconcile(list, crawls, (c) => c.id, (c) => crawlCard(c, { canEdit, refresh: () => poll.kick(), signal: ctx.signal }), updateCrawlCard);
    return crawls.some((c) => IN_PROGRESS.has(c.status));
  };
  const poll = poller(load, { signal: ctx.signal });

  const startUrl = h("input", { type: "url", name: "start_url", required: true, placeholder: "https://www.example.com/", "data-testid": "crawl-start-url" });
  const sitemap = h("input", { type: "url", name: "sitemap_url", placeholder: "found through robots.txt when empty", "data-testid": "crawl-sitemap" });
  const maxPages = h("input", { type: "number", name: "max_pages", min: 1, max: 20000, value: 500, "data-testid": "crawl-max-pages" });
  const maxDepth = h("input", { type: "number", name: "max_depth", min: 0, max: 20, value: 5, "data-testid": "crawl-max-depth" });
  const delay = h("input", { type: "number", name: "delay_s", min: 0, max: 60, step: 0.1, value: 1, "data-testid": "crawl-delay" });
  const include = h("textarea", { name: "include", rows: 2, placeholder: "/docs/*", spellcheck: "false", "data-testid": "crawl-include" });
  const exclude = h("textarea", { name: "exclude", rows: 2, placeholder: "/blog/tag/*\nre:^/search", spellcheck: "false", "data-testid": "crawl-exclude" });
  const schedule = scheduleSelect(null, { name: "schedule", "data-testid": "crawl-schedule" });
  const startButton = h("button", { type: "submit", class: "primary", "data-testid": "start-crawl", disabled: !canEdit }, "Start crawl");
  const form = h(
    "form",
    { class: "form", "aria-labelledby": "crawl-title" },
    h("h3", { id: "crawl-title" }, "Crawl a website"),
    h("div", { class: "grid-2" }, field("Start URL", startUrl), field("Sitemap URL (optional)", sitemap)),
    h("div", { class: "grid-3" }, field("Max pages", maxPages), field("Max link depth", maxDepth), field("Delay between requests (s)", delay)),
    h(
      "div",
      { class: "grid-2" },
      field("Only pages matching (one per line)", include, "Path globs like /docs/*, or re: and a regular expression. Empty: every page."),
      field("Skip pages matching (one per line)", exclude),
    ),
    field("Re-crawl", schedule, "Only changed pages are indexed again."),
    h("div", { class: "actions" }, startButton),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      bot_id: bot.id,
      start_url: startUrl.value,
      include: lines(include.value),
      exclude: lines(exclude.value),
      max_pages: numberValue(maxPages),
      max_depth: numberValue(maxDepth),
      delay_s: numberValue(delay),
      schedule: schedule.value || null,
    };
    if (sitemap.value.trim()) body.sitemap_url = sitemap.value.trim();
    if (await run(startButton, () => post("/api/knowledge/crawl", body), { form, context: "Could not start the crawl" })) {
      startUrl.value = "";
      poll.kick();
    }
  });

  add(root, 
    canEdit ? form : h("p", { class: "notice" }, "Only admins and owners can crawl websites."),
    h("p", { class: "hint" }, "The crawler follows robots.txt and stays on the start URL's site."),
    h("h3", {}, "Crawls"),
    listHolder,
  );
  poll.kick();
}

function scheduleSelect(value, attrs) {
  return h(
    "select",
    { ...attrs, value: value || "" },
    h("option", { value: "" }, "Never (crawl once)"),
    h("option", { value: "daily" }, "Daily"),
    h("option", { value: "weekly" }, "Weekly"),
    h("option", { value: "monthly" }, "Monthly"),
  );
}

const SCHEDULE_BY_SECONDS = { 86400: "daily", 604800: "weekly", 2592000: "monthly" };

function crawlCard(crawl, { canEdit, refresh, signal }) {
  const button = (label, testid, extra = "") => h("button", { type: "button", class: `small ${extra}`.trim(), "data-testid": testid, disabled: !canEdit }, label);
  const pause = button("Pause", "pause-crawl");
  const resume = button("Resume", "resume-crawl");
  const cancel = button("Cancel", "cancel-crawl");
  const recrawl = button("Re-crawl now", "recrawl");
  const remove = button("Delete", "delete-crawl", "danger");
  const failedToggle = h("button", { type: "button", class: "small link", "aria-expanded": "false", "data-testid": "failed-pages-toggle" }, "Show failed pages");
  const failedList = h("div", { class: "failed-pages", hidden: true });
  const scheduleBox = scheduleSelect(null, { "aria-label": "Re-crawl schedule", disabled: !canEdit, "data-testid": "crawl-schedule-edit" });

  const card = h(
    "section",
    { class: "card crawl", "data-testid": "crawl-row" },
    h("div", { class: "crawl-head" }, h("h4", { class: "crawl-name" }), h("span", { class: "pill", "data-testid": "crawl-status" })),
    h("div", { class: "crawl-progress" }),
    h("div", { class: "crawl-error" }),
    h("div", { class: "row" }, h("label", {}, "Re-crawl ", scheduleBox), h("span", { class: "muted next-run" })),
    h("div", { class: "row-actions" }, pause, resume, cancel, recrawl, remove, failedToggle),
    failedList,
  );
  const act = (buttonEl, path, label) =>
    buttonEl.addEventListener("click", async () => {
      const current = card._crawl;
      if (await run(buttonEl, () => post(`/api/knowledge/crawl/${current.id}/${path}`), { context: `Could not ${label} the crawl` })) refresh();
    });
  act(pause, "pause", "pause");
  act(resume, "resume", "resume");
  act(recrawl, "recrawl", "re-crawl");
  cancel.addEventListener("click", async () => {
    const current = card._crawl;
    const ok = await confirmAction(`Cancel the crawl of ${current.name}? Pages indexed so far stay; you can re-crawl later.`, { action: "Cancel crawl" });
    if (ok && (await run(cancel, () => post(`/api/knowledge/crawl/${current.id}/cancel`), { context: "Could not cancel the crawl" }))) refresh();
  });
  remove.addEventListener("click", async () => {
    const current = card._crawl;
    const ok = await confirmAction(`Delete the crawl of ${current.name}? The bot forgets every page it learnt from it.`, { action: "Delete crawl" });
    if (ok && (await run(remove, async () => (await del(`/api/knowledge/crawl/${current.id}`), true), { context: "Could not delete the crawl" }))) refresh();
  });
  scheduleBox.addEventListener("change", async () => {
    const current = card._crawl;
    const updated = await run(scheduleBox, () => patch(`/api/knowledge/crawl/${current.id}`, { schedule: scheduleBox.value || null }), { context: "Could not change the schedule" });
    if (updated) updateCrawlCard(card, updated);
    else scheduleBox.value = SCHEDULE_BY_SECONDS[current.schedule_s] || "";
  });
  failedToggle.addEventListener("click", async () => {
    const open = failedList.hidden;
    failedList.hidden = !open;
    failedToggle.setAttribute("aria-expanded", String(open));
    failedToggle.textContent = open ? "Hide failed pages" : "Show failed pages";
    if (!open) return;
    mount(failedList, h("p", { class: "muted" }, "Loading…"));
    const pages = await run(failedToggle, () => get(`/api/knowledge/crawl/${card._crawl.id}/pages`, { query: { status: "failed", limit: FAILED_PAGES_SHOWN }, signal }), { context: "Could not load the failed pages" });
    if (!pages) return mount(failedList, h("p", { class: "muted" }, "Could not load the failed pages."));
    mount(
      failedList,
      pages.length
        ? h(
            "table",
            { class: "table compact" },
            h("caption", { class: "sr-only" }, "Failed pages"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "URL"), h("th", { scope: "col" }, "HTTP"), h("th", { scope: "col" }, "Error"))),
            h(
              "tbody",
              {},
              pages.map((page) => {
                const link = safeUrl(page.url);
                return h("tr", {}, h("td", { class: "url" }, link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, page.url) : page.url), h("td", {}, page.http_status ?? "—"), h("td", {}, page.error || ""));
              }),
            ),
          )
        : h("p", { class: "muted" }, "No page failed."),
      pages.length >= FAILED_PAGES_SHOWN ? h("p", { class: "muted" }, `The first ${FAILED_PAGES_SHOWN} are shown.`) : null,
    );
  });
  return card;
}

function updateCrawlCard(card, crawl) {
  card._crawl = crawl;
  card.querySelector(".crawl-name").textContent = crawl.name;
  const status = card.querySelector('[data-testid="crawl-status"]');
  status.textContent = crawl.status;
  status.className = `pill pill-${statusTone(crawl.status)}`;

  const p = crawl.progress || {};
  const found = Number(p.found) || 0;
  const done = ["fetched", "not_modified", "failed", "skipped"].reduce((sum, key) => sum + (Number(p[key]) || 0), 0);
  const active = IN_PROGRESS.has(crawl.status);
  mount(
    card.querySelector(".crawl-progress"),
    active || found
      ? h("progress", { max: Math.max(found, 1), value: Math.min(done, found), "aria-label": `Crawl progress of ${crawl.name}` })
      : null,
    h(
      "ul",
      { class: "counts" },
      p.stage && active ? h("li", {}, h("strong", {}, "stage "), String(p.stage)) : null,
      COUNTS.map(([key, label]) => (p[key] !== undefined ? h("li", {}, h("strong", {}, String(p[key])), ` ${label}`) : null)),
      crawl.status === "ready" ? h("li", {}, h("strong", {}, String(crawl.document_count)), " pages indexed") : null,
    ),
    Array.isArray(p.warnings) && p.warnings.length ? h("ul", { class: "warnings" }, p.warnings.map((w) => h("li", {}, typeof w === "string" ? w : JSON.stringify(w)))) : null,
  );
  mount(
    card.querySelector(".crawl-error"),
    crawl.error_code || crawl.error ? h("p", { class: "source-error" }, crawl.error_code ? h("code", {}, crawl.error_code) : null, " ", crawl.error || "") : null,
  );
  const scheduleBox = card.querySelector("select");
  if (document.activeElement !== scheduleBox) scheduleBox.value = SCHEDULE_BY_SECONDS[crawl.schedule_s] || "";
  card.querySelector(".next-run").textContent = crawl.next_run_at ? `next run ${fmtDate(crawl.next_run_at)}` : crawl.indexed_at ? `last indexed ${fmtDate(crawl.indexed_at)}` : "";

  const [pause, resume, cancel, recrawl] = card.querySelectorAll(".row-actions button");
  pause.hidden = !active;
  resume.hidden = crawl.status !== "paused";
  cancel.hidden = !(active || crawl.status === "paused");
  recrawl.hidden = active || crawl.status === "paused";
}
