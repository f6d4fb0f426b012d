// What the helper pages share: the situations the helper recognises, the bot filter's links,
// rates with their intervals drawn as bars, and effects with theirs.

import { get } from "../api.js";
import { h, showError } from "../dom.js";

/** A Helper tab's hash, keeping the chosen bot (`?bot_id=`). */
export function helperHref(tab, botId) {
  const base = tab === "patterns" ? "#/helper" : `#/helper/${tab}`;
  return botId ? `${base}?bot_id=${encodeURIComponent(botId)}` : base;
}

/** The workspace's bots (for names and pickers); an empty list, with the error shown, when unavailable. */
export async function loadBots(ctx) {
  try {
    return await get("/api/bots", { signal: ctx.signal });
  } catch (error) {
    showError(error, { context: "Could not load the bots" });
    return [];
  }
}

/** A pattern's or experiment's scope: its bot's name, or every bot. */
export function scopeText(botId, botNames) {
  if (!botId) return "All bots";
  return botNames.get(botId) || "(deleted bot)";
}

// The analysis's intents and funnel stages (cortex/helper/classifier.py INTENTS, analysis.py Stage).
export const INTENTS = ["pricing", "booking", "support", "complaint", "account", "smalltalk", "other"];
export const STAGES = ["awareness", "consideration", "decision", "retention"];
export const INTENT_LABEL = {
  pricing: "Pricing question",
  booking: "Wants to book",
  support: "Needs help using it",
  complaint: "Complaint",
  account: "Account matter",
  smalltalk: "Small talk",
  other: "Something else",
};
export const STAGE_LABEL = {
  awareness: "Just looking",
  consideration: "Comparing",
  decision: "Ready to act",
  retention: "Existing customer",
};
export const GOALS = ["resolution", "lead", "booking"];
export const GOAL_LABEL = {
  resolution: "Resolved conversations (answered without a person, or a lead or booking)",
  lead: "Leads captured",
  booking: "Bookings made",
};
// What one success of each goal is called in a sentence ("+24% leads").
export const GOAL_NOUN = { resolution: "resolutions", lead: "leads", booking: "bookings" };
export const STATUS_TONE = { active: "ok", candidate: "busy", retired: "muted", running: "ok", stopped: "muted" };

// Why a bot reply carried no guidance (cortex/contracts/guidance.py NoGuidanceReason), for owners.
export const NO_GUIDANCE_REASON = {
  faq: "The answer was one of your FAQs, given word for word: no model wrote it, so there was nothing to steer.",
  cache: "A cached answer was given: no model wrote it, so there was nothing to steer.",
  handoff: "A person was handling the conversation.",
  canned: "The bot gave a fixed reply (nothing in its knowledge answered, or the model was unavailable).",
  extractive: "This bot answers with your documents' own sentences, so there is no model to steer.",
  helper_failed: "The helper was too slow or failed on this turn; the bot answered without guidance.",
  helper_off: "The helper is switched off for this bot (or for the installation).",
  no_pattern: "No active pattern fits this situation yet.",
  control: "This visitor is in the experiment's “no guidance” group, so the bot was told nothing on purpose.",
};

const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const signedPercent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero" });
const signedSmall = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export const fmtPercent = (value) => (value === null || value === undefined || Number.isNaN(value) ? "—" : percent.format(value));
/** A change in percent with its sign: "+24%", "−8%"; one decimal under 10% ("+0.4%", not "0%"). */
export const fmtSigned = (value) =>
  value === null || value === undefined || !Number.isFinite(value) ? "—" : (Math.abs(value) < 0.1 ? signedSmall : signedPercent).format(value);
export const fmtInt = (value) => integer.format(Number(value) || 0);

/** "pricing / consideration", "any intent / decision", "any situation". */
export function situationText(intent, stage) {
  if (!intent && !stage) return "any situation";
  return `${intent ? INTENT_LABEL[intent] || intent : "any intent"} · ${stage ? STAGE_LABEL[stage] || stage : "any stage"}`;
}

/** A select of intents or stages with an "any" first (value ""). */
export function situationSelect(kind, { name, value = "", testid, anyLabel } = {}) {
  const values = kind === "intent" ? INTENTS : STAGES;
  const labels = kind === "intent" ? INTENT_LABEL : STAGE_LABEL;
  return h(
    "select",
    { name: name || kind, value: value || "", "data-testid": testid },
    h("option", { value: "" }, anyLabel || (kind === "intent" ? "Any intent" : "Any stage")),
    values.map((v) => h("option", { value: v }, `${labels[v]} (${v})`)),
  );
}

/**
 * Position a mark on a track (percent of its width). Through the CSSOM: the dashboard's CSP
 * (style-src 'self') refuses style attributes.
 */
function place(element, left, width) {
  element.style.left = `${left}%`;
  if (width !== undefined) element.style.width = `${width}%`;
  return element;
}

/**
 * A rate with its 95% interval, drawn on a 0–100% track: the interval as a band, the rate as a
 * tick. The same figures are its text (for screen readers and for reading exact values).
 */
export function rateBar(rate, lower, upper, { uses = null, testid = "rate-bar" } = {}) {
  const none = uses === 0 || rate === null || rate === undefined;
  const label = none ? "no outcomes yet" : `${fmtPercent(rate)} (95% interval ${fmtPercent(lower)} to ${fmtPercent(upper)})`;
  const clamp = (v) => Math.max(0, Math.min(1, Number(v) || 0)) * 100;
  const track = h("div", { class: "ci-track", "aria-hidden": "true" });
  if (!none) {
    track.append(
      place(h("span", { class: "ci-band" }), clamp(lower), Math.max(0.5, clamp(upper) - clamp(lower))),
      place(h("span", { class: "ci-point" }), clamp(rate)),
    );
  }
  return h(
    "div",
    { class: "ci", role: "img", "aria-label": `Success rate ${label}`, "data-testid": testid },
    track,
    h("span", { class: "ci-text" }, none ? h("span", { class: "muted" }, "no outcomes yet") : [h("strong", {}, fmtPercent(rate)), " ", h("span", { class: "muted" }, `${fmtPercent(lower)}–${fmtPercent(upper)}`)]),
  );
}

/**
 * An effect (difference B − A) with its confidence interval on an axis centred on zero, scaled so
 * the interval and zero both fit. Below zero (A better) and above (B better) are labelled.
 */
export function effectBar(effect, lower, upper, { a = "A", b = "B", testid = "effect-bar" } = {}) {
  const finite = [effect, lower, upper].every((v) => Number.isFinite(v));
  const reach = finite ? Math.max(Math.abs(lower), Math.abs(upper), Math.abs(effect), 0.01) * 1.15 : 1;
  const at = (v) => 50 + (Math.max(-reach, Math.min(reach, v)) / reach) * 50;
  const track = h("div", { class: "effect-track", "aria-hidden": "true" }, place(h("span", { class: "effect-zero" }), 50));
  if (finite) {
    const excludesZero = lower > 0 || upper < 0;
    track.append(
      place(h("span", { class: ["effect-band", excludesZero ? "effect-band-sure" : ""] }), at(lower), Math.max(0.5, at(upper) - at(lower))),
      place(h("span", { class: "effect-point" }), at(effect)),
    );
  }
  const pp = (v) => `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v * 100).toFixed(1)} pts`;
  const label = finite ? `Difference ${b} minus ${a}: ${pp(effect)}, 95% interval ${pp(lower)} to ${pp(upper)}` : "No difference measured yet";
  return h(
    "figure",
    { class: "effect", "data-testid": testid },
    h("div", { role: "img", "aria-label": label }, track),
    h("div", { class: "effect-axis", "aria-hidden": "true" }, h("span", {}, `${a} better`), h("span", {}, "no difference"), h("span", {}, `${b} better`)),
    h("figcaption", { class: "muted" }, label),
  );
}

// The sequential test's defaults (cortex/helper/experiments.py ALPHA, MIXTURE_SD, MIN_VISITORS),
// for estimating how many more visitors a verdict needs when the API does not say.
const ALPHA = 0.05;
const TAU = 0.02;
const MIN_VISITORS = 200;

/** The mSPRT confidence half-width at variance `v` (the formula of SequentialTest._half_width). */
function halfWidth(v, alpha = ALPHA, tau = TAU) {
  const t2 = tau * tau;
  return Math.sqrt(((v * (v + t2)) / t2) * (2 * Math.log(1 / alpha) + Math.log((v + t2) / v)));
}

/**
 * Roughly how many more visitors each arm needs before the interval could exclude zero, if the
 * rates stay as they are now; null when there is no difference to detect.
 */
export function visitorsStillNeeded(arms, { minVisitors = MIN_VISITORS, alpha = ALPHA, tau = TAU } = {}) {
  if (!arms || arms.length < 2) return null;
  const [a, b] = arms;
  const least = Math.min(a.visitors, b.visitors);
  const pa = a.visitors ? a.conversions / a.visitors : 0;
  const pb = b.visitors ? b.conversions / b.visitors : 0;
  const effect = Math.abs(pb - pa);
  const spread = pa * (1 - pa) + pb * (1 - pb);
  const floor = Math.max(0, minVisitors - least);
  if (!effect || !spread) return least < minVisitors ? { more: floor, exact: false } : null;
  let n = Math.max(least, minVisitors);
  const limit = 10_000_000;
  while (n < limit && halfWidth(spread / n, alpha, tau) >= effect) n = Math.ceil(n * 1.1) + 1;
  if (n >= limit) return null;
  return { more: Math.max(floor, n - least), exact: false };
}
