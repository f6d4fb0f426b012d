// The chat UI inside the widget iframe. On a customer's site, embed.js hands over the widget key
// (and the site's signed-in user, with identity verification) by postMessage, and this frame
// exchanges it for a visitor token itself: the visitor's credential lives in this frame's own
// storage (Cortex's origin, partitioned per top-level site by the browser), where the host page's
// scripts cannot read it. The owner's /preview (and a loader from before) hands over a token.
// Everything else is same-origin calls to Cortex: the bot's config, the chat turn (streamed), the
// visitor's history, the live stream of the conversation (agent replies after a handoff),
// feedback and the lead form.

import { render } from "./markdown.js";
import { translator } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const ui = {
  launcher: $("launcher"), launcherText: $("launcher-text"), unread: $("unread"), panel: $("panel"),
  title: $("title"), presence: $("presence"), avatar: $("avatar"), close: $("close"), notice: $("notice"),
  log: $("log"), typing: $("typing"), composer: $("composer"), input: $("input"), send: $("send"),
};
const state = {
  token: null, botId: null, conversationId: null, config: null, parentOrigin: "*",
  open: false, busy: false, status: "open", unread: 0, lastMessageId: null,
  nodes: new Map(), // message id -> <li>
  live: null, // AbortController of the live stream
  liveRetry: 0,
  publicKey: null, // set when this frame exchanges the widget key itself (embed.js)
  identity: null, // {user_id, user_hash} from the site, with identity verification
  visitorId: null,
  renewTimer: null,
  timeZone: visitorTimeZone(), // sent with each chat turn; dropped if the server does not know it
};
let t = translator("en");
let tokenWaiters = [];

// -- talking to the parent page ------------------------------------------------------------------
function toParent(message) {
  window.parent.postMessage({ source: "cortex", ...message }, state.parentOrigin);
}

window.addEventListener("message", (event) => {
  if (event.source !== window.parent || !event.data || event.data.source !== "cortex") return;
  const message = event.data;
  if (message.type === "init" && !state.token && !state.publicKey) {
    state.parentOrigin = event.origin;
    if (message.publicKey) begin(message);
    else start(message);
  } else if (message.type === "identify" && state.publicKey && event.origin === state.parentOrigin) {
    reidentify(message.identity || null);
  } else if (message.type === "token") {
    state.token = message.token;
    tokenWaiters.splice(0).forEach((resolve) => resolve());
  } else if (message.type === "open") setOpen(true);
  else if (message.type === "close") setOpen(false);
  else if (message.type === "ask" && message.text) {
    setOpen(true);
    send(String(message.text).slice(0, 4000));
  } else if (message.type === "appearance" && message.bot) {
    // The owner's unsaved settings (preview); kept until the saved config has loaded.
    state.override = message.bot;
    if (state.config) applyOverride();
  }
});

// -- the visitor, when this frame exchanges the widget key itself -----------------------------------
// Kept in this frame's own storage, per widget key: the signed visitor credential and the
// conversation (with the visitor it belongs to).
function stored(name) {
  try {
    return localStorage.getItem(`cortex:${state.publicKey}:${name}`);
  } catch {
    return null; // storage blocked: the conversation lasts for this page only
  }
}
function store(name, value) {
  try {
    if (value) localStorage.setItem(`cortex:${state.publicKey}:${name}`, value);
    else localStorage.removeItem(`cortex:${state.publicKey}:${name}`);
  } catch {
    /* storage blocked */
  }
}
function storedConversation() {
  try {
    const saved = JSON.parse(stored("conversation") || "null");
    return saved && saved.visitor === state.visitorId ? saved.id : null;
  } catch {
    return null;
  }
}
function saveConversation(id) {
  if (state.publicKey) store("conversation", id ? JSON.stringify({ visitor: state.visitorId, id }) : null);
  else toParent({ type: "conversation", id });
}

class Refused extends Error {}

/** The widget key for a visitor token; the site's origin is the one this frame was handed the key by. */
async function exchange() {
  const body = { public_key: state.publicKey, site_origin: state.parentOrigin };
  const credential = stored("credential");
  if (credential) body.visitor_credential = credential;
  if (state.identity) Object.assign(body, { user_id: state.identity.user_id, user_hash: state.identity.user_hash });
  const response = await fetch("/api/auth/visitor-token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = data.error?.message || `HTTP ${response.status}`;
    if ([403, 404, 422].includes(response.status)) throw new Refused(message);
    throw new Error(message);
  }
  if (data.visitor_credential) store("credential", data.visitor_credential);
  state.token = data.visitor_token;
  state.visitorId = data.visitor_id;
  clearTimeout(state.renewTimer);
  // Renew at 80% of the lifetime, so a long-open tab never sends an expired token.
  state.renewTimer = setTimeout(renew, Math.max(30, data.expires_in * 0.8) * 1000);
  return data;
}

function refuse(error) {
  // Deny by default: the loader removes this frame, and the site shows nothing.
  clearTimeout(state.renewTimer);
  state.live?.abort();
  toParent({ type: "refused", message: error.message });
}

async function renew() {
  try {
    await exchange();
  } catch (error) {
    if (error instanceof Refused) refuse(error);
    else state.renewTimer = setTimeout(renew, 15000);
  }
}

async function begin(init) {
  state.publicKey = String(init.publicKey);
  state.identity = init.identity || null;
  let issued;
  try {
    issued = await exchange();
  } catch (error) {
    if (error instanceof Refused) refuse(error);
    else console.warn("Cortex widget: " + error.message);
    return;
  }
  await start({ ...init, token: issued.visitor_token, botId: issued.bot_id, conversationId: storedConversation() });
}

/** The site signed a user in or out: a new token, and that visitor's conversation on screen. */
async function reidentify(identity) {
  state.identity = identity;
  const before = state.visitorId;
  try {
    await exchange();
  } catch (error) {
    if (error instanceof Refused) refuse(error);
    return;
  }
  if (state.visitorId === before) return;
  state.live?.abort();
  state.live = null;
  state.nodes.clear();
  state.lastMessageId = null;
  state.status = "open";
  ui.log.replaceChildren();
  state.conversationId = storedConversation();
  if (state.conversationId) await loadHistory();
  if (!ui.log.children.length) greet();
  showPresence();
  if (state.conversationId) listen();
}

function freshToken() {
  if (state.publicKey) return renew();
  return new Promise((resolve) => {
    tokenWaiters.push(resolve);
    toParent({ type: "token-expired" });
    setTimeout(resolve, 10000);
  });
}

async function api(path, { method = "GET", body, signal, headers = {} } = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, {
      method,
      signal,
      headers: { Authorization: `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
    });
    if (response.status !== 401 || attempt > 0) return response;
    await freshToken();
  }
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error?.message || t("error");
  } catch {
    return t("error");
  }
}

// -- start-up ---------------------------------------------------------------------------------
async function start(init) {
  state.token = init.token;
  state.botId = init.botId;
  state.conversationId = init.conversationId || null;
  const config = await api(`/api/chat/config?bot_id=${encodeURIComponent(init.botId)}`);
  if (!config.ok) {
    console.warn("Cortex widget: " + (await errorText(config)));
    return;
  }
  applyConfig(await config.json());
  if (state.override) applyOverride();
  ui.launcher.hidden = false;
  if (state.conversationId) await loadHistory();
  if (!ui.log.children.length) greet();
  if (init.open) setOpen(true);
  else layout();
  if (state.conversationId) listen();
}

function applyOverride() {
  const saved = state.saved || state.config;
  state.saved = saved;
  const bot = state.override;
  applyConfig({ ...saved, ...bot, appearance: { ...saved.appearance, ...bot.appearance } });
}

function contrastColor(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.6 ? "#1f2330" : "#ffffff";
}

function applyConfig(config) {
  state.config = config;
  const look = config.appearance || {};
  t = translator(config.language);
  document.documentElement.lang = config.language || "en";
  const color = /^#[0-9a-fA-F]{6}$/.test(look.primary_color || "") ? look.primary_color : "#4f46e5";
  document.documentElement.style.setProperty("--primary", color);
  document.documentElement.style.setProperty("--on-primary", contrastColor(color));
  document.body.classList.toggle("left", look.position === "bottom-left");
  ui.launcherText.textContent = look.launcher_text || t("launcher");
  ui.title.textContent = look.title || config.name;
  ui.avatar.hidden = !look.avatar_url;
  if (look.avatar_url) ui.avatar.src = look.avatar_url;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  showPresence();
  const welcome = ui.log.querySelector('[data-id="welcome"]');
  if (welcome) {
    welcome.remove();
    greet();
  }
  layout();
}

function showPresence() {
  ui.presence.textContent = state.status === "handoff" ? t("withPerson") : t("online");
}

/** The welcome message and starter questions: shown, never stored. */
function greet() {
  const config = state.config;
  const message = { id: "welcome", role: "bot", content: config.welcome_message || "", citations: [], actions: [] };
  for (const question of config.appearance?.suggested_questions || []) {
    message.actions.push({ type: "reply", label: question, value: question });
  }
  if (message.content || message.actions.length) ui.log.prepend(messageNode(message));
}

async function loadHistory() {
  const response = await api(`/api/chat/conversations/${encodeURIComponent(state.conversationId)}`);
  if (response.status === 404) {
    state.conversationId = null; // deleted or erased: start afresh
    saveConversation(null);
    return;
  }
  if (!response.ok) return;
  const conversation = await response.json();
  state.status = conversation.status;
  showPresence();
  for (const message of conversation.messages) addMessage(message);
}

// -- open / close and the parent's iframe size ----------------------------------------------------
function layout() {
  const position = state.config?.appearance?.position || "bottom-right";
  if (state.open) {
    toParent({ type: "layout", open: true, position });
  } else {
    const box = ui.launcher.getBoundingClientRect();
    toParent({ type: "layout", open: false, position, width: Math.ceil(box.width) + 40, height: Math.ceil(box.height) + 40 });
  }
}

function setOpen(open) {
  if (open === state.open || !state.config) return;
  state.open = open;
  ui.panel.hidden = !open;
  ui.launcher.hidden = open;
  ui.launcher.setAttribute("aria-expanded", String(open));
  layout();
  if (open) {
    state.unread = 0;
    showUnread();
    scrollDown();
    ui.input.focus();
  } else {
    ui.launcher.focus();
  }
}

function showUnread() {
  ui.unread.hidden = state.unread === 0;
  ui.unread.textContent = String(state.unread);
  const label = ui.launcherText.textContent + (state.unread ? ` (${t("unread", { n: state.unread })})` : "");
  ui.launcher.setAttribute("aria-label", label);
}

ui.launcher.addEventListener("click", () => setOpen(true));
ui.close.addEventListener("click", () => setOpen(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.open) setOpen(false);
});

// -- messages ---------------------------------------------------------------------------------
function decodeEntities(text) {
  // Replies are stored HTML-escaped (cortex.core.chat.sanitize_answer); the DOM renderer wants text.
  return text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_, name) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#x27": "'", "#39": "'" })[name]);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

function fillBubble(bubble, message) {
  bubble.replaceChildren();
  if (message.role === "visitor") {
    bubble.textContent = message.content;
    return;
  }
  const citations = message.citations || [];
  const cite = (n) => {
    const source = citations[n - 1];
    if (!source) return null;
    const target = source.url ? { href: source.url, target: "_blank", rel: "noopener noreferrer nofollow" } : {};
    return el("sup", {}, el("a", { ...target, title: source.title, "aria-label": `${t("sources")} ${n}: ${source.title}` }, `[${n}]`));
  };
  bubble.append(render(decodeEntities(message.content), cite));
}

function sourcesNode(citations) {
  if (!citations?.length) return null;
  const list = el("ol");
  for (const source of citations) {
    const title = source.title || source.source_id;
    const item = source.url
      ? el("a", { href: source.url, target: "_blank", rel: "noopener noreferrer nofollow", title: source.snippet || "" }, title)
      : el("span", { title: source.snippet || "" }, title);
    list.append(el("li", {}, item));
  }
  return el("div", { class: "sources" }, el("span", {}, `${t("sources")}:`), list);
}

const THUMB_UP = "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
const THUMB_DOWN = "M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.4.6-.9.6-1.4V5a2 2 0 0 0-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z";

function icon(path) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
  shape.setAttribute("fill", "currentColor");
  shape.setAttribute("d", path);
  svg.append(shape);
  return svg;
}

function feedbackNode(message) {
  if (!message.id || message.id === "welcome" || !["bot", "agent"].includes(message.role)) return null;
  const row = el("div", { class: "meta-row" });
  const button = (rating, symbol, label) =>
    el("button", {
      type: "button", class: "thumb", "aria-label": label, "aria-pressed": String(message.feedback === rating),
      onclick: async (event) => {
        const pressed = event.currentTarget.getAttribute("aria-pressed") === "true";
        const next = pressed ? null : rating;
        const response = await api("/api/chat/feedback", { method: "POST", body: { message_id: message.id, rating: next } });
        if (!response.ok) return showNotice(await errorText(response));
        message.feedback = next;
        for (const thumb of row.querySelectorAll(".thumb")) {
          thumb.setAttribute("aria-pressed", String(thumb === event.currentTarget && next !== null));
        }
        status.textContent = next === null ? "" : t("thanksFeedback");
      },
    }, symbol);
  const status = el("span", { role: "status" });
  row.append(button(1, icon(THUMB_UP), t("helpful")), button(-1, icon(THUMB_DOWN), t("notHelpful")), status);
  return row;
}

function actionsNode(message) {
  const actions = message.actions || [];
  if (!actions.length) return null;
  const row = el("div", { class: "actions" });
  for (const action of actions) {
    if (action.type === "reply") {
      row.append(el("button", { type: "button", class: "chip", onclick: () => send(action.value || action.label) }, action.label || action.value));
    } else if (action.type === "handoff") {
      row.append(el("button", {
        type: "button", class: "chip", "data-action": "handoff",
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          if (!state.conversationId) return;
          const response = await api("/api/chat/handoff", { method: "POST", body: { conversation_id: state.conversationId } });
          if (!response.ok) {
            event.currentTarget.disabled = false;
            return showNotice(await errorText(response));
          }
          addMessage(await response.json());
        },
      }, action.label || t("handoff")));
    } else if (action.type === "lead_form") {
      row.append(el("button", {
        type: "button", class: "chip", "data-action": "lead",
        onclick: (event) => {
          event.currentTarget.disabled = true;
          const form = leadForm(action.fields || ["email"]);
          row.after(form);
          form.querySelector("input")?.focus();
          scrollDown();
        },
      }, action.label || t("leadForm")));
    }
  }
  return row;
}

function leadForm(fields) {
  const types = { name: "text", email: "email", phone: "tel", company: "text" };
  const autocomplete = { name: "name", email: "email", phone: "tel", company: "organization" };
  const form = el("form", { class: "lead-form", "aria-label": t("leadForm"), novalidate: true });
  const prefix = `lead-${Math.random().toString(36).slice(2, 8)}`;
  for (const field of fields) {
    const id = `${prefix}-${field}`;
    form.append(el("div", { class: "field" },
      el("label", { for: id }, t(field)),
      el("input", { id, type: types[field] || "text", name: field, autocomplete: autocomplete[field], maxlength: "254", "aria-describedby": `${id}-error` }),
      el("span", { id: `${id}-error`, class: "field-error", "data-error-for": field, "aria-live": "polite" })));
  }
  form.append(
    el("label", { class: "consent" }, el("input", { type: "checkbox", name: "marketing_consent" }), t("consent")),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit" }, t("submit")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { conversation_id: state.conversationId };
    for (const field of fields) {
      const value = form.elements[field].value.trim();
      if (value) body[field] = value;
    }
    body.marketing_consent = form.elements.marketing_consent.checked;
    for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    const problem = form.querySelector(".form-error");
    if (!fields.some((field) => body[field])) {
      problem.textContent = t("leadNeedsOne");
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    const response = await api("/api/chat/lead", { method: "POST", body });
    submit.disabled = false;
    if (response.ok) {
      form.replaceWith(el("p", { class: "form-done", role: "status" }, t("leadThanks")));
      return;
    }
    const error = (await response.json().catch(() => ({}))).error || {};
    let marked = 0;
    for (const detail of error.details || []) {
      const field = String(detail.field || "").split(".").pop();
      const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (!slot) continue;
      slot.textContent = detail.message.replace(/^Value error, /, "");
      form.elements[field]?.setAttribute("aria-invalid", "true");
      marked += 1;
    }
    problem.textContent = marked ? t("checkFields") : error.message || t("error");
  });
  return form;
}

function messageNode(message) {
  const bubble = el("div", { class: "bubble" });
  fillBubble(bubble, message);
  const who = message.role === "agent" ? el("span", { class: "who" }, t("agent")) : null;
  const node = el("li", { class: `message ${message.role}`, "data-id": message.id || "" }, who, bubble,
    sourcesNode(message.citations), actionsNode(message), feedbackNode(message));
  node.message = message;
  return node;
}

/** Add (or, same id, replace) a message; returns its node. */
function addMessage(message) {
  const existing = message.id && state.nodes.get(message.id);
  const node = messageNode(message);
  if (existing) existing.replaceWith(node);
  else ui.log.append(node);
  if (message.id) {
    state.nodes.set(message.id, node);
    state.lastMessageId = message.id;
  }
  scrollDown();
  return node;
}

function scrollDown() {
  ui.log.scrollTop = ui.log.scrollHeight;
}

function showNotice(text) {
  ui.notice.textContent = text || "";
  ui.notice.hidden = !text;
}

// -- a chat turn ---------------------------------------------------------------------------------
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { event: "message", data: "", id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data) yield { ...event, data: JSON.parse(event.data) };
        event = { event: "message", data: "", id: null };
      } else if (line.startsWith("event:")) event.event = line.slice(6).trim();
      else if (line.startsWith("data:")) event.data += line.slice(5).trim();
      else if (line.startsWith("id:")) event.id = line.slice(3).trim();
    }
  }
}

// The visitor's IANA time zone ("Europe/Berlin"): a booking reads "tomorrow at 10" in it. A browser
// that reports none sends nothing, and the business's zone applies.
function visitorTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

async function send(text) {
  text = text.trim();
  if (!text || state.busy) return;
  state.busy = true;
  ui.send.disabled = true;
  const mine = addMessage({ role: "visitor", content: text });
  const answer = { role: "bot", content: "", citations: [], actions: [] };
  let answerNode = null;
  ui.typing.hidden = false;
  scrollDown();
  try {
    const body = { bot_id: state.botId, conversation_id: state.conversationId, message: text, stream: true, time_zone: state.timeZone };
    let response = await api("/api/chat", { method: "POST", body });
    if (response.status === 422 && body.time_zone && (await response.clone().text()).includes("time_zone")) {
      state.timeZone = undefined; // a zone name this server does not know: the business's applies
      response = await api("/api/chat", { method: "POST", body: { ...body, time_zone: undefined } });
    }
    if (!response.ok) throw new Error(await errorText(response));
    for await (const { event, data } of sseEvents(response)) {
      if (event === "meta") {
        const fresh = state.conversationId !== data.conversation_id;
        state.conversationId = data.conversation_id;
        mine.dataset.id = data.message_id;
        state.nodes.set(data.message_id, mine);
        if (fresh) {
          saveConversation(data.conversation_id);
          listen();
        }
      } else if (event === "token") {
        ui.typing.hidden = true;
        answer.content += data.text;
        if (!answerNode) answerNode = addMessage(answer);
        else fillBubble(answerNode.querySelector(".bubble"), answer);
        scrollDown();
      } else if (event === "done") {
        ui.typing.hidden = true;
        if (data.handoff) {
          if (answerNode) answerNode.remove();
          break; // a person is answering; their reply arrives on the live stream
        }
        const final = { ...answer, id: data.message_id, content: data.content ?? answer.content, citations: data.citations || [], actions: data.actions || [] };
        if (answerNode) answerNode.remove();
        const already = state.nodes.get(final.id); // the live stream may have delivered it first
        if (already) already.remove();
        addMessage(final);
      }
    }
    showNotice("");
  } catch (error) {
    ui.typing.hidden = true;
    mine.classList.add("failed");
    const retry = el("button", { type: "button", class: "retry", onclick: () => { mine.remove(); answerNode?.remove(); send(text); } }, t("retry"));
    mine.append(el("div", { class: "meta-row" }, t("failed"), retry));
    if (!navigator.onLine || error instanceof TypeError) showNotice(t("reconnecting"));
    else showNotice(error.message);
  } finally {
    state.busy = false;
    ui.send.disabled = false;
  }
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value;
  ui.input.value = "";
  autosize();
  send(text);
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
}
ui.input.addEventListener("input", autosize);

// -- the live stream: agent replies, status changes, anything missed while offline ----------------
async function listen() {
  if (!state.conversationId) return;
  state.live?.abort();
  const controller = new AbortController();
  state.live = controller;
  const conversationId = state.conversationId;
  try {
    const headers = state.lastMessageId ? { "Last-Event-ID": state.lastMessageId } : {};
    const response = await api(`/api/live/conversations/${encodeURIComponent(conversationId)}/stream`, { signal: controller.signal, headers });
    if (response.status === 404) return;
    if (!response.ok) throw new Error(`stream ${response.status}`);
    state.liveRetry = 0;
    showNotice("");
    for await (const { event, data } of sseEvents(response)) {
      if (event === "message") onLiveMessage(data);
      else if (event === "status") onStatus(data.status);
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    if (!navigator.onLine) showNotice(t("reconnecting"));
  }
  if (controller.signal.aborted || state.live !== controller) return;
  // The server ends each stream after a while (and networks drop): resume after the last message.
  const delay = Math.min(15000, 500 * 2 ** state.liveRetry++);
  setTimeout(() => state.live === controller && listen(), state.liveRetry === 1 ? 0 : delay);
}

function onLiveMessage(message) {
  if (state.nodes.has(message.id)) {
    state.lastMessageId = message.id;
    return;
  }
  if (state.busy && message.role !== "agent") return; // this turn's own messages arrive with its `done`
  if (message.role === "visitor") {
    // Said in another tab, or before a reconnect.
    addMessage(message);
    return;
  }
  addMessage(message);
  if (!state.open && message.role !== "system") {
    state.unread += 1;
    showUnread();
    layout();
  }
}

function onStatus(status) {
  if (status === state.status) return;
  const before = state.status;
  state.status = status;
  showPresence();
  if (status === "handoff") addMessage({ role: "system", content: t("agentJoined") });
  else if (before === "handoff") addMessage({ role: "system", content: t("agentLeft") });
}

window.addEventListener("online", () => {
  showNotice("");
  if (state.conversationId) listen();
});
window.addEventListener("offline", () => showNotice(t("reconnecting")));

toParent({ type: "ready" });
