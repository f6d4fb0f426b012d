// In a conversation's transcript, under each bot message: what the helper saw on that turn (the
// analysis: intent, stage, sentiment, frustration, signals, missing facts) and what it advised
// (the guidance, its pattern, the experiment and arm, or why there was none). For members only:
// it comes from GET /api/helper/conversations/{id}; the widget and visitors never get any of it.

import { get, isAbort } from "../api.js";
import { h, showError } from "../dom.js";
import { INTENT_LABEL, NO_GUIDANCE_REASON, STAGE_LABEL, fmtPercent, helperHref } from "./helper-common.js";

// A turn's advice is logged after its visitor message is stored (and, batched, up to a second or so
// later): it belongs to the latest visitor message at most this long after it.
const CLOCK_SLACK_MS = 1000;
// After a new bot message, the helper's log is read again once its batch is written.
const RELOAD_AFTER_MS = 1500;
const FACT_LABEL = { service: "which service", time: "a date or time", name: "their name", email: "an e-mail address" };
// [key, label, whether a high value is good news]
const SIGNALS = [
  ["frustration", "Frustration", false],
  ["churn_risk", "Churn risk", false],
  ["buying_signal", "Buying signal", true],
  ["booking_signal", "Booking signal", true],
];
const SIGNAL_THRESHOLD = 0.5; // cortex/helper/analysis.py: a signal at or above this counts as present

const ms = (iso) => new Date(iso).getTime();

/**
 * The helper's view of one conversation. `add(node, message)` for every transcript item as it is
 * shown (initial and live); `load()` reads the helper's record. Panels appear under bot messages.
 */
export function helperAdvice(conversationId, botId, ctx) {
  const items = []; // {node, message} in transcript order
  let record = null; // the API's answer; null until loaded or when unavailable
  let names = { patterns: new Map(), experiments: new Map() };
  let reloadTimer = null;

  const render = () => {
    if (!record) return;
    const turns = assignTurns(items.map((i) => i.message), record.turns || record.advice || []);
    const applications = new Map((record.applications || []).map((a) => [String(a.message_id), a]));
    for (const { node, message } of items) {
      if (message.role !== "bot") continue;
      const panel = advicePanel(message, turns.get(String(message.id)) || null, applications.get(String(message.id)) || null, names, botId);
      const existing = node.querySelector(":scope > .helper-advice");
      if (existing) {
        panel.open = existing.open; // a refresh keeps what the owner opened
        existing.replaceWith(panel);
      } else node.append(panel);
    }
  };

  const loadNames = async () => {
    const wanted = [...(record.turns || record.advice || []).map((t) => t.guidance || {}), ...(record.applications || [])];
    const patternIds = wanted.map((g) => g.pattern_id).filter((id) => id && !names.patterns.has(String(id)));
    const experimentIds = wanted.map((g) => g.experiment_id).filter((id) => id && !names.experiments.has(String(id)));
    const [patterns, experiments] = await Promise.all([
      patternIds.length ? get("/api/helper/patterns", { signal: ctx.signal }) : null,
      experimentIds.length ? get("/api/helper/experiments", { signal: ctx.signal }) : null,
    ]);
    if (patterns) names.patterns = new Map(patterns.map((p) => [String(p.id), p.name]));
    if (experiments) names.experiments = new Map(experiments.map((e) => [String(e.id), e.name]));
  };

  const load = async () => {
    try {
      record = await get(`/api/helper/conversations/${conversationId}`, { signal: ctx.signal });
    } catch (error) {
      if (isAbort(error)) return;
      if (error.status === 404) record = { turns: [], applications: [] }; // the helper has no record of it (yet)
      else return showError(error, { context: "Could not load what the helper saw" });
    }
    try {
      await loadNames();
    } catch (error) {
      if (!isAbort(error)) showError(error, { context: "Could not load the names of the helper's patterns" });
    }
    render();
  };

  return {
    load,
    add(node, message) {
      items.push({ node, message });
      if (!record) return;
      if (message.role === "bot") {
        render();
        clearTimeout(reloadTimer);
        reloadTimer = setTimeout(() => !ctx.signal.aborted && load(), RELOAD_AFTER_MS);
      }
    },
  };
}

/**
 * Each bot message's turn: a logged turn belongs to the latest visitor message stored before it
 * (give or take the clock slack), and that visitor message's turn to the bot messages answering it
 * (those before the next visitor message). When the API names the message, that wins.
 */
function assignTurns(messages, turns) {
  const byMessage = new Map();
  const visitors = messages.filter((m) => m.role === "visitor");
  const turnOfVisitor = new Map();
  for (const turn of turns) {
    if (turn.message_id) {
      byMessage.set(String(turn.message_id), turn);
      continue;
    }
    const at = ms(turn.created_at) + CLOCK_SLACK_MS;
    let owner = null;
    for (const v of visitors) if (ms(v.created_at) <= at) owner = v;
    if (owner) turnOfVisitor.set(String(owner.id), turn); // the last logged turn for that message wins
  }
  let lastVisitor = null;
  for (const m of messages) {
    if (m.role === "visitor") lastVisitor = m;
    else if (m.role === "bot" && !byMessage.has(String(m.id)) && lastVisitor && turnOfVisitor.has(String(lastVisitor.id))) {
      byMessage.set(String(m.id), turnOfVisitor.get(String(lastVisitor.id)));
    }
  }
  return byMessage;
}

function advicePanel(message, turn, application, names, botId) {
  const analysis = turn ? turn.analysis || {} : null;
  // The message's own record (what core stored) first, then the application, then the helper's log.
  const guidance = turn ? turn.guidance || {} : {};
  const patternId = message.pattern_id || (application && application.pattern_id) || guidance.pattern_id || null;
  const experimentId = message.experiment_id || (application && application.experiment_id) || guidance.experiment_id || null;
  const arm = message.arm || (application && application.arm) || guidance.arm || null;
  const reason = message.no_guidance || (patternId || (guidance.text && !message.no_guidance) ? null : guidance.reason) || null;
  const situation = message.situation || (application && application.situation) || guidance.situation || (analysis && analysis.intent ? `${analysis.intent}/${analysis.stage}` : null);
  const advised = Boolean(patternId || guidance.text) && !message.no_guidance;

  const summary = [];
  if (situation) summary.push(situationWords(situation));
  if (experimentId) summary.push(`experiment arm ${arm || "?"}`);
  if (advised) summary.push(patternId ? `guided by “${names.patterns.get(String(patternId)) || "a pattern"}”` : "guided");
  else if (reason) summary.push(`no guidance: ${reason.replace("_", " ")}`);
  else if (!turn) summary.push("nothing recorded for this turn");

  const body = h("div", { class: "helper-advice-body" });
  if (analysis) {
    const missing = analysis.missing || [];
    const present = SIGNALS.filter(([key]) => Number(analysis[key]) >= SIGNAL_THRESHOLD).map(([, label]) => label.toLowerCase());
    body.append(
      h("h4", {}, "What it saw"),
      h(
        "dl",
        { class: "facts helper-facts", "data-testid": "helper-analysis" },
        fact("Intent", `${INTENT_LABEL[analysis.intent] || analysis.intent}${analysis.intent_confidence !== undefined ? ` (${fmtPercent(analysis.intent_confidence)} sure)` : ""}`, "helper-intent"),
        fact("Stage", STAGE_LABEL[analysis.stage] ? `${STAGE_LABEL[analysis.stage]} (${analysis.stage})` : analysis.stage || "—", "helper-stage"),
        fact("Sentiment", sentimentWords(analysis.sentiment), "helper-sentiment"),
        SIGNALS.map(([key, label, good]) => fact(label, meter(analysis[key], label, good), `helper-${key.replace("_", "-")}`)),
        fact("Signals", present.length ? present.join(", ") : "none strong", "helper-signals"),
        fact("Still missing", missing.length ? missing.map((f) => FACT_LABEL[f] || f).join(", ") : "nothing", "helper-missing"),
      ),
    );
  } else {
    body.append(h("p", { class: "muted" }, "The helper logged no analysis for this turn (it may have been switched off, or the log was cleared after its retention period)."));
  }
  body.append(h("h4", {}, "What it advised"));
  const advice = h("div", { "data-testid": "helper-guidance" });
  if (advised) {
    if (guidance.text) advice.append(h("blockquote", { class: "helper-instruction" }, guidance.text));
    if (patternId) {
      const name = names.patterns.get(String(patternId));
      advice.append(h("p", {}, "Pattern: ", h("a", { href: helperHref("patterns", botId || "") }, name || "(a deleted pattern)")));
    }
  } else {
    advice.append(h("p", {}, reason ? NO_GUIDANCE_REASON[reason] || `No guidance (${reason}).` : "No guidance was recorded for this reply."));
  }
  if (experimentId) {
    const name = names.experiments.get(String(experimentId));
    advice.append(
      h("p", {}, "Experiment: ", h("a", { href: `#/helper/experiments/${experimentId}` }, name || "(a deleted experiment)"), `, arm ${arm || "?"}${reason === "control" ? " (no guidance on purpose)" : ""}`),
    );
  }
  body.append(advice);

  return h(
    "details",
    { class: "helper-advice", "data-testid": "helper-advice" },
    h("summary", {}, h("span", { class: "helper-advice-label" }, "Helper"), " ", h("span", { "data-testid": "helper-summary" }, summary.join(" · "))),
    body,
  );
}

function fact(label, value, testid) {
  return h("div", {}, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
}

function meter(value, label, good) {
  const v = Math.max(0, Math.min(1, Number(value) || 0));
  return h("span", { class: "helper-meter" }, h("meter", { min: 0, max: 1, low: 0.3, high: SIGNAL_THRESHOLD, optimum: good ? 1 : 0, value: v, "aria-label": label }), " ", fmtPercent(v));
}

function sentimentWords(value) {
  const v = Number(value) || 0;
  const word = v <= -0.2 ? "negative" : v >= 0.2 ? "positive" : "neutral";
  return `${word} (${v > 0 ? "+" : ""}${v.toFixed(2)})`;
}

function situationWords(situation) {
  const [intent, stage] = String(situation).split("/");
  return `${INTENT_LABEL[intent] || intent}${stage ? ` · ${STAGE_LABEL[stage] || stage}` : ""}`;
}
