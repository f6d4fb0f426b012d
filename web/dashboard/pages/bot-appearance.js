// How the widget looks, with a live preview that shows unsaved values as they are typed.

import { patch } from "../api.js";
import { add, field, h, run } from "../dom.js";

const MAX_SUGGESTIONS = 4;
const SUGGESTION_MAX_CHARS = 80;

export default function renderAppearance(root, ctx, bot, onBotChange) {
  const canEdit = ctx.hasRole("admin");
  const look = bot.appearance || {};
  const color = h("input", { type: "color", name: "appearance.primary_color", value: look.primary_color || "#4f46e5", "data-testid": "appearance-color" });
  const colorText = h("input", { class: "hex", value: look.primary_color || "#4f46e5", size: 8, maxlength: 7, "aria-label": "Primary colour as hex", pattern: "#[0-9a-fA-F]{6}" });
  const position = h(
    "select",
    { name: "appearance.position", value: look.position || "bottom-right", "data-testid": "appearance-position" },
    h("option", { value: "bottom-right" }, "Bottom right"),
    h("option", { value: "bottom-left" }, "Bottom left"),
  );
  const launcher = h("input", { name: "appearance.launcher_text", maxlength: 40, value: look.launcher_text ?? "", "data-testid": "appearance-launcher" });
  const avatar = h("input", { name: "appearance.avatar_url", type: "url", placeholder: "https://…/avatar.png", value: look.avatar_url || "", "data-testid": "appearance-avatar" });
  const title = h("input", { name: "appearance.title", maxlength: 80, value: look.title || "", placeholder: bot.name, "data-testid": "appearance-title" });
  const savedQuestions = Array.isArray(look.suggested_questions) ? look.suggested_questions : [];
  const questions = Array.from({ length: MAX_SUGGESTIONS }, (_, i) =>
    h("input", {
      name: `appearance.suggested_questions.${i}`,
      maxlength: SUGGESTION_MAX_CHARS,
      value: savedQuestions[i] || "",
      "aria-label": `Suggested question ${i + 1}`,
      placeholder: i === 0 ? "e.g. What are your opening hours?" : "",
      "data-testid": `suggested-question-${i + 1}`,
    }),
  );

  const colorHolder = h("div", { class: "field" }, h("label", { for: "appearance-color" }, "Primary colour"), h("div", { class: "row tight" }, color, colorText));
  color.id = "appearance-color";
  color.addEventListener("input", () => (colorText.value = color.value));
  colorText.addEventListener("input", () => {
    if (/^#[0-9a-fA-F]{6}$/.test(colorText.value)) color.value = colorText.value.toLowerCase();
  });

  const saved = h("span", { class: "saved", role: "status", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", "data-testid": "save-appearance", disabled: !canEdit }, "Save appearance");
  const form = h(
    "form",
    { class: "card form", "aria-label": "Widget appearance" },
    colorHolder,
    field("Position", position),
    field("Launcher text", launcher, "The label on the button that opens the chat (up to 40 characters)."),
    field("Title", title, "Shown at the top of the chat window; empty shows the bot's name."),
    field("Avatar URL", avatar, "An https image address; leave empty for none."),
    h(
      "fieldset",
      {},
      h("legend", {}, "Suggested questions"),
      h("p", { class: "hint" }, `Up to ${MAX_SUGGESTIONS} starter questions visitors can tap (${SUGGESTION_MAX_CHARS} characters each).`),
      questions.map((input) => h("div", { class: "field" }, input)),
    ),
    h("div", { class: "actions" }, save, saved),
  );

  if (!canEdit) for (const control of form.querySelectorAll("input, select, textarea")) control.disabled = true;

  const appearance = () => {
    const value = {
      primary_color: color.value,
      position: position.value,
      launcher_text: launcher.value,
      avatar_url: avatar.value.trim() || null,
      title: title.value,
    };
    const list = questions.map((q) => q.value.trim()).filter(Boolean);
    // Sent when set, or when the server already knows the field (so clearing them all saves too).
    if (list.length || "suggested_questions" in look) value.suggested_questions = list;
    return value;
  };

  const frame = h("iframe", { src: `/preview?bot=${encodeURIComponent(bot.id)}`, title: "Widget preview", "data-testid": "preview-frame", class: "preview-frame" });
  const postPreview = () => {
    if (!frame.contentWindow) return;
    const message = {
      type: "cortex:preview",
      bot: { name: bot.name, welcome_message: bot.welcome_message, language: bot.language, lead_fields: bot.lead_fields, appearance: { ...appearance(), suggested_questions: questions.map((q) => q.value.trim()).filter(Boolean) } },
    };
    frame.contentWindow.postMessage(message, location.origin);
  };
  const onMessage = (event) => {
    if (event.origin !== location.origin || event.source !== frame.contentWindow) return;
    if (event.data && event.data.type === "cortex:preview-ready") postPreview();
  };
  window.addEventListener("message", onMessage);
  ctx.signal.addEventListener("abort", () => window.removeEventListener("message", onMessage), { once: true });
  form.addEventListener("input", () => {
    saved.textContent = "";
    postPreview();
  });
  form.addEventListener("change", postPreview); // <select> and the colour picker's final value

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const updated = await run(save, () => patch(`/api/bots/${bot.id}`, { appearance: appearance() }), { form, context: "Could not save the appearance" });
    if (updated) {
      bot = updated;
      onBotChange(updated);
      saved.textContent = "Saved.";
    }
  });

  add(root, 
    canEdit ? null : h("p", { class: "notice" }, "Only admins and owners can change the appearance."),
    h(
      "div",
      { class: "split" },
      form,
      h(
        "section",
        { class: "preview card", "aria-labelledby": "preview-title" },
        h("h2", { id: "preview-title" }, "Preview"),
        h("p", { class: "hint" }, "Shows your unsaved changes as you type; save to make them live."),
        frame,
      ),
    ),
  );
}
