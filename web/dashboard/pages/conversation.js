// One conversation: its transcript, updated live, with human takeover and agent replies.

import { followStream, get, post } from "../api.js";
import { add, field, fmtDate, fmtTime, h, mount, pill, run, safeUrl, showError } from "../dom.js";
import { helperAdvice } from "./helper-conversation.js";

const ROLE_LABEL = { visitor: "Visitor", bot: "Bot", agent: "Agent", system: "System" };
const STATUS_TONE = { open: "ok", handoff: "warn", closed: "muted" };

export default async function renderConversation(root, ctx) {
  const { conversationId } = ctx.params;
  let conversation;
  try {
    conversation = await get(`/api/conversations/${conversationId}`, { signal: ctx.signal });
  } catch (error) {
    add(root, h("p", { class: "crumbs" }, h("a", { href: "#/conversations" }, "Conversations")), h("h1", {}, "Conversation"), h("p", {}, "This conversation could not be loaded."));
    return showError(error, { context: "Could not load the conversation" });
  }
  let botName = null;
  try {
    botName = (await get(`/api/bots/${conversation.bot_id}`, { signal: ctx.signal })).name;
  } catch (error) {
    if (error.status !== 404) showError(error, { context: "Could not load the bot's name" });
  }
  const myId = ctx.me ? ctx.me.user.id : null;
  const canAct = ctx.hasRole("agent");

  // -- header and controls -----------------------------------------------------------------------
  const statusPill = h("span", { "data-testid": "conversation-status" });
  const assigned = h("span", { class: "muted" });
  const live = h("span", { class: "live", role: "status", "aria-live": "polite", "data-testid": "live-state" }, "connecting…");
  const takeover = h("button", { type: "button", class: "primary", "data-testid": "takeover", disabled: !canAct }, "Take over");
  const handback = h("button", { type: "button", "data-testid": "handback", disabled: !canAct }, "Hand back to the bot");
  const replyInput = h("textarea", { name: "content", rows: 3, maxlength: 4000, placeholder: "Write a reply to the visitor", "data-testid": "agent-reply-input" });
  const send = h("button", { type: "submit", class: "primary", "data-testid": "agent-reply-send" }, "Send");
  const replyHint = h("p", { class: "hint" });
  const replyForm = h("form", { class: "reply card", "aria-label": "Reply as an agent" }, field("Your reply", replyInput), h("div", { class: "actions" }, send, replyHint));

  const showStatus = (status, assignedAgent) => {
    conversation.status = status;
    conversation.assigned_agent = assignedAgent;
    mount(statusPill, pill(status, STATUS_TONE[status]));
    assigned.textContent =
      status === "handoff" ? (assignedAgent ? (assignedAgent === myId ? "handled by you" : "handled by another member") : "waiting for an agent") : status === "open" ? "the bot is answering" : "";
    takeover.hidden = status === "closed" || (status === "handoff" && assignedAgent === myId);
    handback.hidden = status !== "handoff";
    const mine = status === "handoff" && (assignedAgent === myId || !assignedAgent);
    replyInput.disabled = !canAct || status !== "handoff";
    send.disabled = replyInput.disabled;
    replyHint.textContent = !canAct
      ? "Your role can read conversations; an agent, admin or owner can reply."
      : status === "handoff"
        ? mine
          ? "The bot stays quiet while you handle this conversation."
          : "Another member handles this conversation; take it over to reply."
        : status === "closed"
          ? "This conversation is closed."
          : "Take the conversation over to reply; the bot stops answering until you hand it back.";
  };

  // -- transcript ----------------------------------------------------------------------------------
  const transcript = h("ol", { class: "transcript", "data-testid": "transcript", "aria-label": "Transcript", "aria-live": "polite" });
  const seen = new Set();
  let lastMessageId = null;
  const advice = helperAdvice(conversationId, conversation.bot_id, ctx); // what the helper saw, under bot messages
  const addMessage = (message) => {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    lastMessageId = message.id;
    const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
    const item = messageItem(message);
    transcript.append(item);
    advice.add(item, message);
    if (nearBottom) transcript.scrollTop = transcript.scrollHeight;
  };
  conversation.messages.forEach(addMessage);
  if (!conversation.messages.length) transcript.append(h("li", { class: "muted empty-transcript" }, "No messages yet."));

  takeover.addEventListener("click", async () => {
    const updated = await run(takeover, () => post(`/api/conversations/${conversationId}/takeover`), { context: "Could not take over" });
    if (updated) {
      showStatus(updated.status, updated.assigned_agent);
      replyInput.focus();
    }
  });
  handback.addEventListener("click", async () => {
    const updated = await run(handback, () => post(`/api/conversations/${conversationId}/handback`), { context: "Could not hand back" });
    if (updated) showStatus(updated.status, updated.assigned_agent);
  });
  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = await run(send, () => post(`/api/conversations/${conversationId}/messages`, { content: replyInput.value }), { form: replyForm, context: "Could not send the reply" });
    if (message) {
      transcript.querySelector(".empty-transcript")?.remove();
      addMessage(message);
      replyInput.value = "";
      replyInput.focus();
    }
    showStatus(conversation.status, conversation.assigned_agent); // re-enable per status
  });
  replyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) replyForm.requestSubmit();
  });

  showStatus(conversation.status, conversation.assigned_agent);
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: "#/conversations" }, "Conversations"), " / "),
    h("div", { class: "page-head row spread" }, h("h1", {}, `Conversation with ${conversation.visitor_id || "a visitor"}`), live),
    h(
      "div",
      { class: "card meta" },
      h(
        "dl",
        { class: "facts" },
        h("div", {}, h("dt", {}, "Status"), h("dd", {}, statusPill, " ", assigned)),
        h("div", {}, h("dt", {}, "Bot"), h("dd", {}, botName ? h("a", { href: `#/bots/${conversation.bot_id}` }, botName) : "(deleted bot)")),
        h("div", {}, h("dt", {}, "Started"), h("dd", {}, fmtDate(conversation.started_at))),
        h("div", {}, h("dt", {}, "Outcomes"), h("dd", {}, conversation.outcomes.length ? conversation.outcomes.join(", ") : "—")),
        h("div", {}, h("dt", {}, "Rating"), h("dd", {}, conversation.rating ? `${conversation.rating} ★` : "—", conversation.feedback ? ` — “${conversation.feedback}”` : "")),
      ),
      h("div", { class: "actions" }, takeover, handback),
    ),
    transcript,
    replyForm,
  );
  transcript.scrollTop = transcript.scrollHeight;
  advice.load();
  ctx.setTitle(`Conversation with ${conversation.visitor_id || "a visitor"}`);

  // -- live updates ----------------------------------------------------------------------------------
  followStream(`/api/live/conversations/${conversationId}/stream`, {
    lastEventId: lastMessageId || "start",
    signal: ctx.signal,
    onState: (state, error) => {
      live.textContent = state === "open" ? "● live" : state === "reconnecting" ? "reconnecting…" : "not live";
      live.className = `live live-${state}`;
      if (error && state === "closed") showError(error, { context: "Live updates stopped" });
    },
    onEvent: ({ event, data }) => {
      if (event === "message" && data && data.id) {
        transcript.querySelector(".empty-transcript")?.remove();
        addMessage(data);
      } else if (event === "status" && data) {
        showStatus(data.status, data.assigned_agent);
      } else if (event === "deleted") {
        showError(new Error("This conversation was deleted."));
        takeover.disabled = handback.disabled = replyInput.disabled = send.disabled = true;
      }
    },
  });
}

function messageItem(message) {
  const citations = message.citations || [];
  return h(
    "li",
    { class: `message message-${message.role}`, "data-testid": "message", "data-role": message.role },
    h(
      "div",
      { class: "message-head" },
      h("strong", {}, ROLE_LABEL[message.role] || message.role),
      " ",
      h("time", { datetime: message.created_at, title: fmtDate(message.created_at) }, fmtTime(message.created_at)),
      message.direct_answer ? h("span", { class: "tag" }, "direct answer") : null,
      message.degraded ? h("span", { class: "tag tag-warn", title: "Answered without part of its usual help (knowledge or model unavailable)" }, "degraded") : null,
    ),
    h("div", { class: "message-body" }, message.content),
    citations.length
      ? h(
          "ul",
          { class: "citations", "aria-label": "Sources cited" },
          citations.map((c) => {
            const link = safeUrl(c.url);
            return h(
              "li",
              {},
              link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, c.title || c.url) : h("strong", {}, c.title || c.source_id),
              c.snippet ? h("span", { class: "muted" }, ` — ${c.snippet}`) : null,
            );
          }),
        )
      : null,
  );
}
