// Helper: the invisible agent that steers the bots. A bot filter, then two tabs: patterns (with
// their statistics, status changes, create/edit, JSON import, and the bot's helper settings) and
// experiments (helper-experiments.js). `?bot_id=` keeps the chosen bot across tabs.

import { api, del, get, patch, post } from "../api.js";
import { add, checkbox, confirmAction, empty, field, fmtDate, h, mount, poller, run, showError } from "../dom.js";
import renderExperiments from "./helper-experiments.js";
import { GOALS, GOAL_LABEL, STATUS_TONE, fmtInt, helperHref, loadBots, rateBar, scopeText, situationSelect, situationText } from "./helper-common.js";

const TABS = [
  { id: "patterns", label: "Patterns" },
  { id: "experiments", label: "Experiments" },
];
const STATUSES = ["candidate", "active", "retired"];
const IMPORT_EXAMPLE = `[
  {"name": "Demo after price", "intent": "pricing", "stage": "consideration",
   "instruction": "Answer the pricing question, then offer a demo slot.",
   "example": "How much is the Pro plan?", "status": "candidate"}
]`;

export default async function renderHelper(root, ctx) {
  const tab = ctx.params.tab || "patterns";
  const bots = await loadBots(ctx);
  const botNames = new Map(bots.map((b) => [b.id, b.name]));
  let botId = ctx.query.get("bot_id") || "";
  if (botId && !botNames.has(botId)) botId = "";
  const bot = bots.find((b) => b.id === botId) || null;

  const picker = h(
    "select",
    { name: "bot_id", value: botId, "data-testid": "helper-bot-filter" },
    h("option", { value: "" }, "All bots"),
    bots.map((b) => h("option", { value: b.id }, b.name)),
  );
  picker.addEventListener("change", () => ctx.navigate(helperHref(tab, picker.value)));

  add(
    root,
    h(
      "div",
      { class: "page-head row spread" },
      h("div", {}, h("h1", {}, "Helper"), h("p", { class: "muted" }, "The helper reads every conversation, tells the bot how to steer it, learns from what happens next, and proves it with experiments. Visitors never see it.")),
      h("div", { class: "helper-bot-filter" }, field("Bot", picker)),
    ),
    h(
      "nav",
      { class: "tabs", "aria-label": "Helper sections" },
      TABS.map((t) => h("a", { href: helperHref(t.id, botId), "aria-current": t.id === tab ? "page" : null, "data-testid": `helper-tab-${t.id}` }, t.label)),
    ),
  );
  const body = h("section", { class: "tab-body", "aria-label": TABS.find((t) => t.id === tab)?.label || "Patterns" });
  add(root, body);
  ctx.setTitle(`Helper · ${tab === "experiments" ? "Experiments" : "Patterns"}`);
  if (tab === "experiments") return renderExperiments(body, ctx, { bots, botNames, bot });
  return renderPatterns(body, ctx, { bots, botNames, bot });
}

// -- settings ------------------------------------------------------------------------------------

async function settingsCard(ctx, bot, onSaved) {
  const canEdit = ctx.hasRole("admin");
  const card = h("section", { class: "card helper-settings", "aria-labelledby": "helper-settings-title" }, h("h2", { id: "helper-settings-title" }, `Helper settings for ${bot.name}`));
  let settings;
  try {
    settings = await get(`/api/helper/bots/${bot.id}/settings`, { signal: ctx.signal });
  } catch (error) {
    card.append(h("p", { class: "muted" }, "The helper settings could not be loaded."));
    showError(error, { context: "Could not load the helper settings" });
    return card;
  }
  const enabled = checkbox("The helper steers this bot", { name: "enabled", checked: settings.enabled, disabled: !canEdit, "data-testid": "helper-enabled" });
  const goal = h(
    "select",
    { name: "goal", value: settings.goal, disabled: !canEdit, "data-testid": "helper-goal" },
    GOALS.map((g) => h("option", { value: g }, GOAL_LABEL[g])),
  );
  const saved = h("span", { class: "saved", role: "status", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", disabled: !canEdit, "data-testid": "save-helper-settings" }, "Save");
  const form = h(
    "form",
    { class: "form", "aria-label": "Helper settings" },
    enabled,
    h("p", { class: "hint" }, "Off: the bot answers without guidance and no experiment runs for it; what it says is still analysed for you."),
    field("What the helper optimises", goal, "Patterns and the bandit are judged on this outcome of each conversation."),
    h("div", { class: "actions" }, save, saved),
  );
  form.addEventListener("input", () => (saved.textContent = ""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { enabled: enabled.querySelector("input").checked, goal: goal.value };
    const updated = await run(save, () => api("PUT", `/api/helper/bots/${bot.id}/settings`, { body }), { form, context: "Could not save the helper settings" });
    if (updated) {
      saved.textContent = "Saved.";
      await onSaved(); // the statistics count successes by the goal
    }
  });
  add(card, canEdit ? null : h("p", { class: "notice" }, "Only admins and owners can change the helper settings."), form);
  return card;
}

// -- patterns ------------------------------------------------------------------------------------

async function renderPatterns(root, ctx, { bots, botNames, bot }) {
  const canEdit = ctx.hasRole("admin");
  const status = h(
    "select",
    { name: "status", value: ctx.query.get("status") || "", "data-testid": "pattern-status-filter" },
    h("option", { value: "" }, "Every status"),
    STATUSES.map((s) => h("option", { value: s }, s)),
  );
  const intent = situationSelect("intent", { name: "intent", value: ctx.query.get("intent") || "", anyLabel: "Every intent", testid: "pattern-intent-filter" });
  const count = h("span", { class: "muted" });
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading patterns…"));

  const load = async () => {
    let patterns;
    try {
      patterns = await get("/api/helper/patterns", { query: { bot_id: bot ? bot.id : "", status: status.value, intent: intent.value }, signal: ctx.signal });
    } catch (error) {
      mount(list, h("p", { class: "muted" }, "The patterns could not be loaded."));
      return showError(error, { context: "Could not load the patterns" });
    }
    count.textContent = `(${patterns.length})`;
    if (!patterns.length) {
      const filtered = status.value || intent.value;
      mount(list, empty(filtered ? "No pattern matches these filters." : "No patterns yet — add one below, import a file, or let the mining job propose candidates from your successful conversations."));
      return;
    }
    mount(
      list,
      h(
        "table",
        { class: "table patterns" },
        h("caption", { class: "sr-only" }, "Patterns, best first by the lower bound of their success rate's 95% interval"),
        h("thead", {}, h("tr", {}, ["Pattern", "Situation", "Scope", "Status", "Uses", "Success rate (95% interval)", ""].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, patterns.map((p, i) => patternRow(p, i + 1, { ctx, canEdit, botNames, bots, reload: load }))),
      ),
    );
  };
  for (const control of [status, intent]) control.addEventListener("change", load);

  const sections = [];
  if (bot) sections.push(await settingsCard(ctx, bot, () => load()));
  else sections.push(h("p", { class: "notice info" }, "Choose a bot above to switch its helper on or off and choose what it optimises. The list below shows every bot's patterns and the workspace-wide ones."));
  sections.push(
    h(
      "div",
      { class: "row spread" },
      h("h2", {}, "Patterns ", count),
      h("div", { class: "row tight filters-inline" }, field("Status", status), field("Intent", intent)),
    ),
    h("p", { class: "hint" }, "Ranked by the lower end of each pattern's 95% interval, so a pattern that worked 1 time in 1 ranks below one that worked 80 times in 100. A pattern counts once per conversation that closed after it was used."),
    list,
  );
  if (canEdit) sections.push(h("div", { class: "grid-2 forms" }, patternForm(ctx, { bots, bot, onSaved: load }), importForm(ctx, { bot, onDone: load })));
  else sections.push(h("p", { class: "notice" }, "Only admins and owners can add or change patterns."));
  sections.push(miningCard(ctx, { canEdit, onDone: load }));
  add(root, ...sections);
  await load();
}

// -- mining ----------------------------------------------------------------------------------------

const MINING_ACTIVE = new Set(["queued", "running"]);
const MINING_TONE = { queued: "busy", running: "busy", succeeded: "ok", failed: "bad" };

/** The pattern-mining job: its latest run (followed while it runs), the next scheduled one, "mine now". */
function miningCard(ctx, { canEdit, onDone }) {
  const state = h("div", { "aria-live": "polite", "data-testid": "mining-state" }, h("p", { class: "muted" }, "Loading mining runs…"));
  const start = h("button", { type: "button", "data-testid": "start-mining", disabled: !canEdit }, "Mine patterns now");
  let wasRunning = false;
  const view = ({ runs, next_run_at: next }) => {
    const [latest] = runs;
    const nextText = next ? `Next scheduled run: ${fmtDate(next)}.` : "Runs are scheduled once the workspace has closed conversations.";
    if (!latest) return mount(state, h("p", { class: "muted" }, `No mining run yet. ${nextText}`));
    const p = latest.progress || {};
    const c = latest.counts || {};
    let detail;
    if (MINING_ACTIVE.has(latest.status)) {
      const total = Number(p.conversations_total) || 0;
      detail = h(
        "div",
        { class: "progress-view" },
        total ? h("progress", { max: total, value: Number(p.conversations_done) || 0, "aria-label": "Mining progress" }) : h("progress", { "aria-label": "Mining progress" }),
        h("span", { class: "muted" }, `${p.stage || latest.status}${total ? `: ${fmtInt(p.conversations_done || 0)} / ${fmtInt(total)} conversations` : ""}`),
      );
    } else if (latest.status === "succeeded") {
      detail = h("p", {}, `Read ${fmtInt(c.conversations)} closed conversations (${fmtInt(c.successful)} successful): proposed ${fmtInt(c.candidates)} candidate pattern${Number(c.candidates) === 1 ? "" : "s"}, retired ${fmtInt(c.retired)}.`);
    } else {
      detail = h("p", { class: "source-error" }, latest.error || "The run failed.");
    }
    mount(
      state,
      h("div", { class: "row tight" }, h("span", {}, `Latest run (${latest.trigger === "owner" ? "started by hand" : "scheduled"}, ${fmtDate(latest.submitted_at)}) `), h("span", { class: `pill pill-${MINING_TONE[latest.status] || "muted"}`, "data-testid": "mining-status" }, latest.status)),
      detail,
      h("p", { class: "hint" }, nextText),
    );
  };
  const follow = poller(
    async () => {
      const runs = await get("/api/helper/mining/runs", { query: { limit: 1 }, signal: ctx.signal });
      view(runs);
      const running = Boolean(runs.runs[0] && MINING_ACTIVE.has(runs.runs[0].status));
      if (wasRunning && !running) await onDone(); // new candidates (or retirements) are in the list
      wasRunning = running;
      start.disabled = !canEdit || running;
      return running;
    },
    { signal: ctx.signal, intervalMs: 2000 },
  );
  start.addEventListener("click", async () => {
    if (await run(start, () => post("/api/helper/mining/runs"), { context: "Could not start mining" })) {
      wasRunning = true;
      follow.kick();
    }
  });
  follow.kick();
  return h(
    "section",
    { class: "card", "aria-labelledby": "mining-title" },
    h("div", { class: "row spread" }, h("h2", { id: "mining-title" }, "Pattern mining"), canEdit ? start : null),
    h("p", { class: "hint" }, "A job reads the workspace's successful conversations, proposes candidate patterns for the situations it finds, and retires patterns that stopped working. Candidates go live only through the bandit's exploration or an experiment."),
    state,
  );
}

function patternStats(p) {
  const s = p.stats || {};
  return {
    uses: s.uses ?? 0,
    successes: s.successes ?? 0,
    rate: s.rate ?? null,
    lower: s.lower ?? (s.interval ? s.interval[0] : null),
    upper: s.upper ?? (s.interval ? s.interval[1] : null),
  };
}

function patternRow(p, rank, { ctx, canEdit, botNames, bots, reload }) {
  const stats = patternStats(p);
  const row = h("tr", { "data-testid": "pattern-row", "data-pattern-id": p.id });
  const show = () => {
    const actions = [];
    if (canEdit) {
      if (p.status !== "active") actions.push(statusButton(p, "active", p.status === "retired" ? "Reactivate" : "Activate", reload));
      if (p.status !== "retired") actions.push(statusButton(p, "retired", "Retire", reload));
      const edit = h("button", { type: "button", class: "small", "data-testid": "edit-pattern" }, "Edit");
      edit.addEventListener("click", () => {
        const cell = h("td", { colspan: 7 });
        cell.append(
          patternForm(ctx, {
            bots,
            bot: null,
            pattern: p,
            onSaved: async () => reload(),
            onCancel: show,
          }),
        );
        mount(row, cell);
        cell.querySelector("input, textarea, select")?.focus();
      });
      const remove = h("button", { type: "button", class: "small danger", "data-testid": "delete-pattern" }, "Delete");
      remove.addEventListener("click", async () => {
        const ok = await confirmAction(`Delete the pattern “${p.name}” and its statistics? Retiring it keeps them.`, { action: "Delete pattern" });
        if (ok && (await run(remove, async () => (await del(`/api/helper/patterns/${p.id}`), true), { context: "Could not delete the pattern" }))) await reload();
      });
      actions.push(edit, remove);
    }
    mount(
      row,
      h(
        "td",
        { class: "pattern-main" },
        h("div", { class: "pattern-name" }, h("span", { class: "rank muted", title: "Rank" }, `${rank}.`), " ", h("strong", { "data-testid": "pattern-name" }, p.name), p.origin && p.origin !== "owner" ? h("span", { class: "tag" }, p.origin === "mined" ? "proposed by mining" : "imported") : null),
        h("div", { class: "pattern-instruction", "data-testid": "pattern-instruction" }, p.instruction),
        p.example ? h("div", { class: "muted small" }, "e.g. ", h("q", {}, p.example)) : null,
        p.status === "retired" && p.retired_reason ? h("div", { class: "muted small" }, `Retired: ${p.retired_reason}`) : null,
      ),
      h("td", {}, situationText(p.intent, p.stage)),
      h("td", {}, scopeText(p.bot_id, botNames)),
      h("td", {}, h("span", { class: `pill pill-${STATUS_TONE[p.status] || "muted"}`, "data-testid": "pattern-status" }, p.status)),
      h("td", { class: "num", "data-testid": "pattern-uses" }, fmtInt(stats.uses), stats.uses ? h("div", { class: "muted small" }, `${fmtInt(stats.successes)} succeeded`) : null),
      h("td", { class: "rate-cell" }, rateBar(stats.rate, stats.lower, stats.upper, { uses: stats.uses, testid: "pattern-rate" })),
      h("td", {}, h("div", { class: "row-actions" }, actions)),
    );
  };
  show();
  return row;
}

function statusButton(p, status, label, reload) {
  const button = h("button", { type: "button", class: "small", "data-testid": `pattern-${status === "active" ? "activate" : "retire"}` }, label);
  button.addEventListener("click", async () => {
    if (await run(button, () => patch(`/api/helper/patterns/${p.id}`, { status }), { context: `Could not ${label.toLowerCase()} the pattern` })) await reload();
  });
  return button;
}

/** Create a pattern (for the chosen bot, or workspace-wide), or edit `pattern`. */
function patternForm(ctx, { bots, bot, pattern = null, onSaved, onCancel = null }) {
  const editing = Boolean(pattern);
  const name = h("input", { name: "name", maxlength: 120, required: true, value: pattern ? pattern.name : "", placeholder: "e.g. Demo after price", "data-testid": "pattern-name-input" });
  const scope = h(
    "select",
    { name: "bot_id", value: pattern ? pattern.bot_id || "" : bot ? bot.id : "", "data-testid": "pattern-scope" },
    h("option", { value: "" }, "Every bot of the workspace"),
    bots.map((b) => h("option", { value: b.id }, b.name)),
  );
  const intent = situationSelect("intent", { name: "intent", value: pattern ? pattern.intent || "" : "", testid: "pattern-intent" });
  const stage = situationSelect("stage", { name: "stage", value: pattern ? pattern.stage || "" : "", testid: "pattern-stage" });
  const instruction = h("textarea", { name: "instruction", rows: 3, maxlength: 300, required: true, placeholder: "Answer the pricing question, then offer a demo slot.", "data-testid": "pattern-instruction-input" });
  instruction.value = pattern ? pattern.instruction : "";
  const example = h("input", { name: "example", maxlength: 500, value: pattern ? pattern.example || "" : "", placeholder: "How much is the Pro plan?", "data-testid": "pattern-example" });
  // A new pattern is active or a candidate; an existing one may also be retired here.
  const choices = editing ? STATUSES : STATUSES.filter((s) => s !== "retired");
  const status = h("select", { name: "status", value: pattern ? pattern.status : "active", "data-testid": "pattern-status-input" }, choices.map((s) => h("option", { value: s }, s)));
  const save = h("button", { type: "submit", class: "primary", "data-testid": editing ? "save-pattern" : "create-pattern" }, editing ? "Save" : "Add pattern");
  const cancel = onCancel ? h("button", { type: "button", onclick: onCancel }, "Cancel") : null;
  const titleId = `pattern-form-${pattern ? pattern.id : "new"}`;
  const form = h(
    "form",
    { class: editing ? "form" : "form card", "aria-labelledby": titleId },
    h(editing ? "h3" : "h2", { id: titleId }, editing ? `Edit “${pattern.name}”` : "Add a pattern"),
    field("Name", name),
    h("div", { class: "grid-2" }, field("Intent", intent), field("Stage", stage)),
    field("Instruction to the bot", instruction, "A short instruction the bot follows in this situation (10–300 characters). The visitor never sees it."),
    field("Example visitor message", example, "A message this situation looks like; it helps match similar questions."),
    h("div", { class: "grid-2" }, field("Applies to", scope), field("Status", status, "Candidates are tried in a small share of turns; active patterns are used whenever they fit.")),
    h("div", { class: "actions" }, save, cancel),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value,
      intent: intent.value || null,
      stage: stage.value || null,
      instruction: instruction.value,
      example: example.value,
      status: status.value,
    };
    if (!editing) body.bot_id = scope.value || null;
    else if ((pattern.bot_id || "") !== scope.value) body.bot_id = scope.value || null;
    const saved = await run(save, () => (editing ? patch(`/api/helper/patterns/${pattern.id}`, body) : post("/api/helper/patterns", body)), {
      form,
      context: editing ? "Could not save the pattern" : "Could not add the pattern",
    });
    if (!saved) return;
    if (!editing) {
      form.reset();
      scope.value = bot ? bot.id : "";
    }
    await onSaved(saved);
    if (!editing) name.focus();
  });
  return form;
}

/** Import patterns from a JSON file: all of them, or none and every bad row listed by its index. */
function importForm(ctx, { bot, onDone }) {
  const file = h("input", { type: "file", name: "file", accept: ".json,application/json", required: true, "data-testid": "pattern-import-file" });
  const button = h("button", { type: "submit", "data-testid": "pattern-import" }, "Import");
  const result = h("div", { class: "import-result", "aria-live": "polite", "data-testid": "pattern-import-result" });
  const form = h(
    "form",
    { class: "form card", "aria-labelledby": "pattern-import-title" },
    h("h2", { id: "pattern-import-title" }, "Import patterns"),
    h("p", { class: "hint" }, `A JSON list of patterns with the keys name, instruction, and optionally intent, stage, example, status and bot_id${bot ? ` (without bot_id they apply to ${bot.name})` : " (without bot_id they apply to every bot)"}. They are imported all together, or — if any row is wrong — none are, and the wrong rows are listed.`),
    h("details", {}, h("summary", {}, "Example file"), h("pre", { class: "snippet" }, IMPORT_EXAMPLE)),
    field("File", file),
    h("div", { class: "actions" }, button),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren();
    const chosen = file.files[0];
    if (!chosen) return showError(new Error("Choose a JSON file first."), { context: "Could not import" });
    let rows;
    try {
      rows = JSON.parse(await chosen.text());
    } catch (error) {
      mount(result, h("p", { class: "source-error", "data-testid": "pattern-import-error" }, `${chosen.name} is not valid JSON: ${error.message}`));
      return;
    }
    if (!Array.isArray(rows)) {
      mount(result, h("p", { class: "source-error", "data-testid": "pattern-import-error" }, `${chosen.name} must hold a JSON list of patterns ([{…}, …]), not ${rows === null ? "null" : typeof rows}.`));
      return;
    }
    if (bot) rows = rows.map((row) => (row && typeof row === "object" && !("bot_id" in row) ? { ...row, bot_id: bot.id } : row));
    let failure = null;
    const imported = await run(
      [button, file],
      async () => {
        try {
          return await post("/api/helper/patterns/import", rows);
        } catch (error) {
          failure = error;
          throw error;
        }
      },
      { context: "Could not import the patterns" },
    );
    if (imported) {
      const n = Array.isArray(imported) ? imported.length : imported.imported ?? imported.count ?? rows.length;
      mount(result, h("p", { class: "ok-text", "data-testid": "pattern-import-done" }, `Imported ${n} pattern${n === 1 ? "" : "s"}.`));
      file.value = "";
      await onDone();
    } else if (failure && failure.details && failure.details.length) {
      mount(
        result,
        h("p", { class: "source-error", "data-testid": "pattern-import-error" }, "Nothing was imported. Fix these rows and import the file again:"),
        h("ul", { class: "row-errors", "data-testid": "pattern-import-errors" }, failure.details.map((d) => h("li", {}, importErrorText(d)))),
      );
    }
  });
  return form;
}

/**
 * "row 2, instruction: …" from an import error: {index (0-based), field, message}, or a 422 detail
 * whose field is a path like "body.1.instruction".
 */
function importErrorText(detail) {
  const parts = String(detail.field || "").split(".").filter((p) => p && p !== "body");
  let index = Number.isInteger(detail.index) ? detail.index : null;
  if (index === null && parts.length && /^\d+$/.test(parts[0])) index = Number(parts.shift());
  else if (index !== null && parts.length && parts[0] === String(index)) parts.shift();
  const where = [index !== null ? `row ${index + 1}` : null, parts.join(".") || null].filter(Boolean).join(", ");
  return where ? `${where}: ${detail.message}` : detail.message;
}
