// Helper › Experiments: start one (no guidance vs a pattern, pattern A vs B, or two prompt
// addenda; traffic split; metric; auto-promote), list them, and follow one's live results with
// the effect's interval drawn and the verdict in plain words; stop it or promote its winner.

import { ApiError, get, isAbort, post, sleep } from "../api.js";
import { add, checkbox, confirmAction, empty, field, fmtDate, h, mount, run, showError, showFieldErrors } from "../dom.js";
import {
  GOALS,
  GOAL_NOUN,
  STATUS_TONE,
  effectBar,
  fmtInt,
  rateBar,
  fmtPercent,
  fmtSigned,
  helperHref,
  loadBots,
  scopeText,
  situationSelect,
  situationText,
  visitorsStillNeeded,
} from "./helper-common.js";

const KINDS = [
  { id: "guidance", label: "No guidance vs a pattern", hint: "Does the helper's guidance help at all? A gets no guidance, B the pattern." },
  { id: "patterns", label: "Pattern A vs pattern B", hint: "Which of two strategies works better in the same situation?" },
  { id: "addenda", label: "Two prompt addenda", hint: "Which of two extra instructions, added to the bot's prompt, works better?" },
];
const REFRESH_MS = 5000;
const METRIC_LABEL = { resolution: "Resolution", lead: "Lead captured", booking: "Booking made" };

export default async function renderExperiments(root, ctx, { bots, botNames, bot }) {
  const canEdit = ctx.hasRole("admin");
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading experiments…"));
  let patterns = [];
  const load = async () => {
    let experiments;
    try {
      experiments = await get("/api/helper/experiments", { query: { bot_id: bot ? bot.id : "" }, signal: ctx.signal });
    } catch (error) {
      mount(list, h("p", { class: "muted" }, "The experiments could not be loaded."));
      return showError(error, { context: "Could not load the experiments" });
    }
    if (!experiments.length) {
      mount(list, empty("No experiments yet — start one below to prove what works: the helper splits visitors between two variants and tells you which wins, with how sure it is."));
      return;
    }
    mount(
      list,
      h(
        "table",
        { class: "table clickable experiments" },
        h("caption", { class: "sr-only" }, "Experiments"),
        h("thead", {}, h("tr", {}, ["Experiment", "Situation", "Bot", "Metric", "Status", "Verdict", "Started"].map((label) => h("th", { scope: "col" }, label)))),
        h(
          "tbody",
          {},
          experiments.map((e) => {
            const href = experimentHref(e.id, bot);
            const row = h(
              "tr",
              { "data-testid": "experiment-row", "data-experiment-id": e.id },
              h("td", {}, h("a", { href }, e.name)),
              h("td", {}, situationText(e.intent, e.stage)),
              h("td", {}, scopeText(e.bot_id, botNames)),
              h("td", {}, METRIC_LABEL[e.metric] || e.metric),
              h("td", {}, h("span", { class: `pill pill-${STATUS_TONE[e.status] || "muted"}` }, e.status)),
              h("td", { class: "verdict-cell" }, e.results ? verdict(e, e.results).headline : h("span", { class: "muted" }, "open it for results")),
              h("td", {}, fmtDate(e.started_at || e.created_at)),
            );
            row.addEventListener("click", (event) => {
              if (!event.target.closest("a")) ctx.navigate(href);
            });
            return row;
          }),
        ),
      ),
    );
  };

  if (canEdit) {
    try {
      patterns = await get("/api/helper/patterns", { query: { bot_id: bot ? bot.id : "" }, signal: ctx.signal });
    } catch (error) {
      showError(error, { context: "Could not load the patterns to choose from" });
    }
  }
  add(
    root,
    h("h2", {}, "Experiments"),
    list,
    canEdit ? experimentForm(ctx, { bots, bot, patterns: patterns.filter((p) => p.status !== "retired") }) : h("p", { class: "notice" }, "Only admins and owners can start experiments."),
  );
  await load();
}

function experimentHref(id, bot) {
  return `#/helper/experiments/${id}${bot ? `?bot_id=${encodeURIComponent(bot.id)}` : ""}`;
}

function experimentForm(ctx, { bots, bot, patterns }) {
  const name = h("input", { name: "name", maxlength: 120, required: true, placeholder: "e.g. Demo offer after pricing", "data-testid": "experiment-name" });
  const scope = h(
    "select",
    { name: "bot_id", value: bot ? bot.id : "", "data-testid": "experiment-scope" },
    h("option", { value: "" }, "Every bot of the workspace"),
    bots.map((b) => h("option", { value: b.id }, b.name)),
  );
  const intent = situationSelect("intent", { name: "intent", testid: "experiment-intent" });
  const stage = situationSelect("stage", { name: "stage", testid: "experiment-stage" });
  const kindName = `kind-${Math.random().toString(36).slice(2, 7)}`;
  const kinds = KINDS.map((k, i) =>
    h(
      "label",
      { class: "check kind" },
      h("input", { type: "radio", name: kindName, value: k.id, checked: i === 0, "data-testid": `experiment-kind-${k.id}` }),
      h("span", {}, h("strong", {}, k.label), h("br"), h("span", { class: "muted small" }, k.hint)),
    ),
  );
  const patternPicker = (armName, testid) =>
    h(
      "select",
      { name: armName, "data-testid": testid },
      h("option", { value: "" }, patterns.length ? "Choose a pattern" : "No patterns yet — add one on the Patterns tab"),
      patterns.map((p) => h("option", { value: p.id }, `${p.name} (${p.status})`)),
    );
  const patternA = patternPicker("arms.0.pattern_id", "experiment-pattern-a");
  const patternB = patternPicker("arms.1.pattern_id", "experiment-pattern-b");
  const addendumA = h("textarea", { name: "arms.0.addendum", rows: 2, maxlength: 300, placeholder: "Keep answers under three sentences.", "data-testid": "experiment-addendum-a" });
  const addendumB = h("textarea", { name: "arms.1.addendum", rows: 2, maxlength: 300, placeholder: "End with a question that moves the visitor forward.", "data-testid": "experiment-addendum-b" });
  const armAField = h("div", {});
  const armBField = h("div", {});
  const split = h("input", { type: "range", name: "split", min: 5, max: 95, step: 5, value: 50, "data-testid": "experiment-split", "aria-describedby": "split-text" });
  const splitText = h("output", { id: "split-text", for: split.id }, "");
  const showSplit = () => (splitText.textContent = `A ${100 - Number(split.value)}% · B ${split.value}% of visitors`);
  split.addEventListener("input", showSplit);
  showSplit();
  const metric = h("select", { name: "metric", value: "resolution", "data-testid": "experiment-metric" }, GOALS.map((g) => h("option", { value: g }, METRIC_LABEL[g])));
  // For one bot, the metric starts as what its helper optimises.
  if (bot) {
    get(`/api/helper/bots/${bot.id}/settings`, { signal: ctx.signal })
      .then((settings) => {
        if (settings && settings.goal && !form.dataset.touched) metric.value = settings.goal;
      })
      .catch(() => {}); // the default stays; the Patterns tab reports a settings failure
  }
  const autoPromote = checkbox("Promote the winner automatically (the experiment stops, the winning pattern goes live, the loser is retired)", { name: "auto_promote", "data-testid": "experiment-auto-promote" });
  const start = h("button", { type: "submit", class: "primary", "data-testid": "start-experiment" }, "Start experiment");

  const kind = () => kinds.map((k) => k.querySelector("input")).find((input) => input.checked)?.value || "guidance";
  const showArms = () => {
    const k = kind();
    if (k === "guidance") {
      mount(armAField, h("div", { class: "field" }, h("span", { class: "label" }, "A"), h("p", { class: "muted arm-fixed" }, "No guidance: the bot answers as it would without the helper.")));
      mount(armBField, field("B: pattern", patternB));
    } else if (k === "patterns") {
      mount(armAField, field("A: pattern", patternA));
      mount(armBField, field("B: pattern", patternB));
    } else {
      mount(armAField, field("A: addendum", addendumA));
      mount(armBField, field("B: addendum", addendumB));
    }
  };
  for (const k of kinds) k.querySelector("input").addEventListener("change", showArms);
  showArms();

  const form = h(
    "form",
    { class: "form card", "aria-labelledby": "experiment-form-title" },
    h("h2", { id: "experiment-form-title" }, "Start an experiment"),
    h("div", { class: "grid-2" }, field("Name", name), field("Bot", scope)),
    h("div", { class: "grid-2" }, field("Intent", intent, "Only turns in this situation take part."), field("Stage", stage)),
    h("fieldset", {}, h("legend", {}, "What to compare"), h("div", { class: "checks vertical" }, kinds)),
    h("div", { class: "grid-2" }, armAField, armBField),
    field("Traffic split", h("div", { class: "row tight" }, split, splitText), "Each visitor stays in the same group for the whole experiment."),
    h("div", { class: "grid-2" }, field("Success means", metric, "Counted once per visitor, when their conversation closes.")),
    autoPromote,
    h("div", { class: "actions" }, start),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const k = kind();
    const weightB = Number(split.value);
    const arm = (armName, weight, extra) => ({ name: armName, weight, pattern_id: null, addendum: null, ...extra });
    let arms;
    if (k === "guidance") arms = [arm("A", 100 - weightB), arm("B", weightB, { pattern_id: patternB.value || null })];
    else if (k === "patterns") arms = [arm("A", 100 - weightB, { pattern_id: patternA.value || null }), arm("B", weightB, { pattern_id: patternB.value || null })];
    else arms = [arm("A", 100 - weightB, { addendum: addendumA.value }), arm("B", weightB, { addendum: addendumB.value })];
    // What only the form knows: the variant's pattern pickers and addenda must be filled in.
    const missing = [];
    if (k !== "addenda" && !patternB.value) missing.push({ field: "arms.1.pattern_id", message: "Choose the pattern B gives the bot." });
    if (k === "patterns" && !patternA.value) missing.push({ field: "arms.0.pattern_id", message: "Choose the pattern A gives the bot." });
    if (k === "patterns" && patternA.value && patternA.value === patternB.value) missing.push({ field: "arms.1.pattern_id", message: "A and B must be different patterns." });
    if (missing.length) {
      const error = new ApiError(0, { code: "incomplete_form", message: "The experiment needs its variants filled in.", details: missing });
      showError(error, { context: "Could not start the experiment" });
      showFieldErrors(form, error);
      return;
    }
    const body = {
      name: name.value,
      bot_id: scope.value || null,
      intent: intent.value || null,
      stage: stage.value || null,
      metric: metric.value,
      arms,
      auto_promote: autoPromote.querySelector("input").checked,
    };
    const created = await run(start, () => post("/api/helper/experiments", body), { form, context: "Could not start the experiment" });
    if (created) ctx.navigate(experimentHref(created.id, scope.value ? { id: scope.value } : null));
  });
  form.addEventListener("input", () => (form.dataset.touched = "1"), { once: true });
  return form;
}

// -- one experiment --------------------------------------------------------------------------------

/** An arm's share of the traffic ("50%"). */
function share(arm, arms) {
  const total = arms.reduce((sum, a) => sum + (Number(a.weight) || 0), 0);
  return total ? fmtPercent((Number(arm.weight) || 0) / total) : "—";
}

function armLabel(arm, patternNames) {
  if (arm.pattern_id) return `pattern “${patternNames.get(arm.pattern_id) || "(deleted pattern)"}”`;
  if (arm.addendum) return `addendum “${arm.addendum}”`;
  return "no guidance";
}

/** The results' arms (visitors, conversions, rate and its interval) in the experiment's arm order. */
function resultArms(experiment, results) {
  const byName = new Map(((results && results.arms) || []).map((a) => [a.name, a]));
  return experiment.arms.map((arm) => {
    const r = byName.get(arm.name) || {};
    const visitors = Number(r.visitors) || 0;
    const conversions = Number(r.conversions) || 0;
    return { ...arm, visitors, conversions, rate: visitors ? (r.rate ?? conversions / visitors) : null, lower: r.lower ?? null, upper: r.upper ?? null };
  });
}

const points = (v) => `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v * 100).toFixed(1)} pts`;
/** A difference of rates relative to `base` ("+24%"), or in percentage points when `base` is 0. */
const lift = (diff, base) => (base ? fmtSigned(diff / base) : points(diff));

/**
 * The verdict in words: a headline ("B wins: +24% leads (95% CI +8% to +41%)") and what it means.
 * Each comparison is an arm against the baseline (the first arm): `effect` is the arm's rate minus
 * the baseline's, with its always-valid interval. A lift is stated relative to the loser's rate.
 */
export function verdict(experiment, results) {
  results = results || {};
  const arms = resultArms(experiment, results);
  const rateOf = new Map(arms.map((a) => [a.name, a.rate || 0]));
  const noun = GOAL_NOUN[experiment.metric] || "conversions";
  const comparisons = results.comparisons || [];
  const winner = results.winner || experiment.winner || null;
  const least = arms.length ? Math.min(...arms.map((a) => a.visitors)) : 0;
  const total = arms.reduce((sum, a) => sum + a.visitors, 0);
  if (winner) {
    const c = comparisons.find((x) => x.winner === winner) || comparisons.find((x) => x.arm === winner || x.baseline === winner);
    if (c) {
      const armWins = winner === c.arm;
      const loser = armWins ? c.baseline : c.arm;
      const base = rateOf.get(loser);
      const diff = armWins ? c.effect : -c.effect;
      const [lo, hi] = armWins ? [c.ci_low, c.ci_high] : [-c.ci_high, -c.ci_low];
      return {
        tone: "ok",
        headline: `${winner} wins: ${lift(diff, base)} ${noun} (95% CI ${lift(lo, base)} to ${lift(hi, base)})`,
        detail: `${winner} beats ${loser} with 95% confidence (p = ${fmtP(c.p_value)}), and that stays true however often you looked.${experiment.status === "running" ? " Promote it to make it the bot's strategy." : ""}`,
      };
    }
    return { tone: "ok", headline: `${winner} won`, detail: experiment.stopped_reason ? `Stopped: ${experiment.stopped_reason}.` : "" };
  }
  const soFar = least
    ? comparisons.map((c) => `${c.arm} ${lift(c.effect, rateOf.get(c.baseline))} ${noun} compared with ${c.baseline} (p = ${fmtP(c.p_value)})`).join("; ")
    : "";
  if (experiment.status !== "running") {
    return {
      tone: "muted",
      headline: "Stopped without a winner",
      detail: total ? `After ${fmtInt(total)} visitors: ${soFar}.` : "It stopped before any visitor's conversation closed.",
    };
  }
  // visitors_needed_per_arm: how many each arm needs in all; the estimate here when the API has none.
  const given = results.visitors_needed_per_arm;
  const more = given !== undefined && given !== null ? Math.max(0, Number(given) - least) : visitorsStillNeeded(arms, { minVisitors: results.min_visitors })?.more;
  const headline = more ? `Not enough data yet: ~${fmtInt(more)} more visitors per arm` : "Not enough data yet: no clear difference so far";
  const detail = least
    ? `So far ${soFar}. ${more ? "The estimate assumes the rates stay as they are; a smaller difference needs more visitors." : ""}`
    : `A visitor counts once their conversation closes (after it has been idle a while). No verdict comes before each arm has ${fmtInt(results.min_visitors || 200)} visitors.`;
  return { tone: "busy", headline, detail: detail.trim() };
}

function fmtP(p) {
  if (p === null || p === undefined || Number.isNaN(p)) return "—";
  return p < 0.001 ? "< 0.001" : p.toFixed(3);
}

export async function renderExperiment(root, ctx) {
  const { experimentId } = ctx.params;
  const botId = ctx.query.get("bot_id") || "";
  const crumbs = h("p", { class: "crumbs" }, h("a", { href: helperHref("experiments", botId) }, "Helper › Experiments"), " / ");
  let experiment;
  try {
    experiment = await get(`/api/helper/experiments/${experimentId}`, { signal: ctx.signal });
  } catch (error) {
    add(root, crumbs, h("h1", {}, "Experiment"), h("p", {}, "This experiment could not be loaded."));
    return showError(error, { context: "Could not load the experiment" });
  }
  const bots = await loadBots(ctx);
  const botNames = new Map(bots.map((b) => [b.id, b.name]));
  let patternNames = new Map();
  try {
    const patterns = await get("/api/helper/patterns", { signal: ctx.signal });
    patternNames = new Map(patterns.map((p) => [p.id, p.name]));
  } catch (error) {
    showError(error, { context: "Could not load the pattern names" });
  }
  const canEdit = ctx.hasRole("admin");
  ctx.setTitle(`Experiment ${experiment.name}`);

  const statusPill = h("span", { "data-testid": "experiment-status" });
  const facts = h("dl", { class: "facts" });
  const results = h("section", { class: "card", "aria-labelledby": "results-title", "data-testid": "experiment-results" });
  const stop = h("button", { type: "button", class: "danger", "data-testid": "stop-experiment" }, "Stop experiment");
  const promoteArm = h("select", { name: "arm", "aria-label": "Arm to promote", "data-testid": "promote-arm" });
  const promote = h("button", { type: "button", class: "primary", "data-testid": "promote-experiment" }, "Promote");
  const actions = h("div", { class: "actions" }, canEdit ? [stop, promoteArm, promote] : h("span", { class: "muted" }, "Only admins and owners can stop or promote experiments."));
  const updated = h("span", { class: "muted small", role: "status", "aria-live": "off" });

  const show = (e) => {
    experiment = e;
    mount(statusPill, h("span", { class: `pill pill-${STATUS_TONE[e.status] || "muted"}` }, e.status), e.winner ? h("span", { class: "tag" }, `winner: ${e.winner}`) : null);
    mount(
      facts,
      h("div", {}, h("dt", {}, "Status"), h("dd", {}, statusPill)),
      h("div", {}, h("dt", {}, "Bot"), h("dd", {}, scopeText(e.bot_id, botNames))),
      h("div", {}, h("dt", {}, "Situation"), h("dd", {}, situationText(e.intent, e.stage))),
      h("div", {}, h("dt", {}, "Success means"), h("dd", {}, METRIC_LABEL[e.metric] || e.metric)),
      h("div", {}, h("dt", {}, "Started"), h("dd", {}, fmtDate(e.started_at || e.created_at))),
      e.stopped_at ? h("div", {}, h("dt", {}, "Stopped"), h("dd", { "data-testid": "experiment-stopped" }, fmtDate(e.stopped_at), e.stopped_reason ? h("div", { class: "muted small" }, e.stopped_reason) : null)) : null,
      h("div", {}, h("dt", {}, "Auto-promote"), h("dd", {}, e.auto_promote ? "on" : "off")),
    );
    const r = e.results || {};
    const arms = resultArms(e, r);
    const words = verdict(e, r);
    const comparisons = r.comparisons || [];
    mount(
      results,
      h("div", { class: "row spread" }, h("h2", { id: "results-title" }, "Results"), updated),
      h("p", { class: `verdict verdict-${words.tone}`, "data-testid": "experiment-verdict" }, words.headline),
      words.detail ? h("p", { class: "muted" }, words.detail) : null,
      h(
        "table",
        { class: "table compact arms", "data-testid": "experiment-arms" },
        h("caption", { class: "sr-only" }, "Visitors and conversions per arm"),
        h("thead", {}, h("tr", {}, ["Arm", "Variant", "Traffic", "Visitors", "Converted", "Rate (95% interval)"].map((label) => h("th", { scope: "col" }, label)))),
        h(
          "tbody",
          {},
          arms.map((arm) =>
            h(
              "tr",
              { "data-testid": "experiment-arm", "data-arm": arm.name },
              h("th", { scope: "row" }, arm.name),
              h("td", {}, armLabel(arm, patternNames)),
              h("td", { class: "num" }, share(arm, e.arms)),
              h("td", { class: "num", "data-testid": "arm-visitors" }, fmtInt(arm.visitors)),
              h("td", { class: "num", "data-testid": "arm-conversions" }, fmtInt(arm.conversions)),
              h("td", { class: "rate-cell" }, rateBar(arm.rate, arm.lower, arm.upper, { uses: arm.visitors, testid: "arm-rate" })),
            ),
          ),
        ),
      ),
      comparisons.length
        ? comparisons.map((c) => [
            h("h3", {}, `Effect of ${c.arm} compared with ${c.baseline}`),
            // Until each arm has its minimum of visitors the test has no interval (the API's is −1..1).
            c.ci_low <= -1 && c.ci_high >= 1
              ? h("p", { class: "muted", "data-testid": "experiment-effect" }, `The interval appears once each arm has ${fmtInt(r.min_visitors || 200)} visitors.`)
              : effectBar(c.effect, c.ci_low, c.ci_high, { a: c.baseline, b: c.arm, testid: "experiment-effect" }),
            h("p", { class: "hint" }, "p-value: ", h("strong", { "data-testid": "experiment-p-value" }, fmtP(c.p_value)), c.relative_lift !== null && c.relative_lift !== undefined ? ` · relative lift ${fmtSigned(c.relative_lift)}` : ""),
          ])
        : [h("h3", {}, "Effect"), effectBar(NaN, NaN, NaN, { testid: "experiment-effect" })],
      h("p", { class: "hint" }, `The intervals stay valid however often you look: the helper uses a sequential test (mSPRT), so checking every day does not manufacture a winner (at most ${fmtPercent(r.alpha ?? 0.05)} of experiments with no real difference ever name one).`),
      actions,
    );
    const running = e.status === "running";
    stop.hidden = !running;
    mount(promoteArm, e.arms.filter((arm) => arm.pattern_id).map((arm) => h("option", { value: arm.name }, `${arm.name}: ${armLabel(arm, patternNames)}`)));
    const winnerArm = r.winner || e.winner;
    if (winnerArm && e.arms.some((arm) => arm.name === winnerArm && arm.pattern_id)) promoteArm.value = winnerArm;
    const promotable = promoteArm.options.length > 0 && (running || !e.winner);
    promoteArm.hidden = promote.hidden = !promotable;
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    return running;
  };

  stop.addEventListener("click", async () => {
    const ok = await confirmAction(`Stop “${experiment.name}”? Visitors stop being split; the results so far stay.`, { action: "Stop experiment" });
    if (!ok) return;
    const e = await run(stop, () => post(`/api/helper/experiments/${experiment.id}/stop`), { context: "Could not stop the experiment" });
    if (e) show(e.arms ? e : await get(`/api/helper/experiments/${experiment.id}`, { signal: ctx.signal }));
  });
  promote.addEventListener("click", async () => {
    const arm = promoteArm.value;
    const winner = (experiment.results || {}).winner;
    const warn = winner && winner !== arm ? ` The test does not name ${arm} the winner.` : !winner ? " The test has not declared a winner yet." : "";
    const ok = await confirmAction(`Promote ${arm}? The experiment stops, ${arm}'s pattern becomes active and the other arms' patterns are retired.${warn}`, { action: `Promote ${arm}`, danger: Boolean(warn) });
    if (!ok) return;
    const e = await run(promote, () => post(`/api/helper/experiments/${experiment.id}/promote`, { arm }), { context: "Could not promote" });
    if (e) show(e.arms ? e : await get(`/api/helper/experiments/${experiment.id}`, { signal: ctx.signal }));
  });

  add(
    root,
    crumbs,
    h("div", { class: "page-head" }, h("h1", {}, experiment.name)),
    h("div", { class: "card meta" }, facts, h("h3", {}, "Variants"), h("ul", { class: "plain" }, experiment.arms.map((arm) => h("li", {}, h("strong", {}, `${arm.name}: `), armLabel(arm, patternNames), h("span", { class: "muted" }, ` — ${share(arm, experiment.arms)} of visitors`))))),
    results,
  );
  // Live results: refreshed every few seconds while it runs.
  // Not awaited: the page is ready now, and the router focuses its heading.
  const follow = async (running) => {
    while (running && !ctx.signal.aborted) {
      await sleep(REFRESH_MS, ctx.signal);
      if (ctx.signal.aborted) break;
      try {
        running = show(await get(`/api/helper/experiments/${experiment.id}`, { signal: ctx.signal }));
      } catch (error) {
        if (isAbort(error)) break;
        showError(error, { context: "Could not refresh the results" });
      }
    }
  };
  follow(show(experiment));
}
