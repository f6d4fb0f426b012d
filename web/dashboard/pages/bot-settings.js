// A bot's settings: every BotIn field except appearance (its own tab). Saved with PATCH.

import { del, get, patch } from "../api.js";
import { add, checkbox, confirmAction, field, h, run } from "../dom.js";

export const LEAD_FIELDS = ["name", "email", "phone", "company"];

/** A number input's value for the API: a number, or null when blank (the API then says what it needs). */
export function numberValue(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

export default function renderSettings(root, ctx, bot, onBotChange) {
  const canEdit = ctx.hasRole("admin");
  const name = h("input", { name: "name", maxlength: 120, required: true, value: bot.name, "data-testid": "bot-name" });
  const systemPrompt = h("textarea", { name: "system_prompt", rows: 6, maxlength: 8000, "data-testid": "bot-system-prompt" });
  systemPrompt.value = bot.system_prompt;
  const persona = h("textarea", { name: "persona", rows: 3, maxlength: 2000, "data-testid": "bot-persona" });
  persona.value = bot.persona;
  const welcome = h("textarea", { name: "welcome_message", rows: 2, maxlength: 1000, "data-testid": "bot-welcome" });
  welcome.value = bot.welcome_message;
  const language = h("input", { name: "language", value: bot.language, size: 6, pattern: "[a-z]{2}(-[A-Z]{2})?", list: "language-codes", "data-testid": "bot-language" });
  const languages = h("datalist", { id: "language-codes" }, ["en", "en-GB", "de", "fr", "es", "it", "nl", "pt", "pt-BR", "pl", "sv", "da", "fi", "nb", "ja", "zh"].map((code) => h("option", { value: code })));

  const leadBoxes = LEAD_FIELDS.map((f) => checkbox(f, { name: "lead_fields", value: f, checked: bot.lead_fields.includes(f), "data-testid": `lead-${f}` }));

  const backend = h("select", { name: "llm.backend", value: bot.llm.backend, "data-testid": "llm-backend" }, h("option", { value: "auto" }, "auto (the LLM endpoint if configured, else extractive)"), h("option", { value: "extractive" }, "extractive (your documents' own sentences, cited)"), h("option", { value: "local" }, "local (small model on this installation)"), h("option", { value: "openai" }, "openai (OpenAI-compatible API)"));
  const model = h("input", { name: "llm.model", maxlength: 200, value: bot.llm.model, placeholder: "the backend's default", "data-testid": "llm-model" });
  const temperature = h("input", { name: "llm.temperature", type: "number", min: 0, max: 2, step: 0.05, value: bot.llm.temperature, "data-testid": "llm-temperature" });
  const maxTokens = h("input", { name: "llm.max_tokens", type: "number", min: 16, max: 4096, step: 1, value: bot.llm.max_tokens, "data-testid": "llm-max-tokens" });
  const budget = h("input", { name: "llm.monthly_token_budget", type: "number", min: 0, step: 1000, value: bot.llm.monthly_token_budget, "data-testid": "llm-budget" });
  const threshold = h("input", { name: "direct_answer_threshold", type: "number", min: 0, max: 1.3, step: 0.01, value: bot.direct_answer_threshold, "data-testid": "direct-answer-threshold" });

  const saved = h("span", { class: "saved", role: "status", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", "data-testid": "save-settings", disabled: !canEdit }, "Save settings");
  const form = h(
    "form",
    { class: "card form", "aria-label": "Bot settings" },
    h("h2", {}, "Conversation"),
    field("Name", name),
    field("System prompt", systemPrompt, "Instructions the model always follows: what the bot is for, what it must not do."),
    field("Persona", persona, "How it sounds: tone, style, a name it introduces itself with."),
    field("Welcome message", welcome, "The first message a visitor sees."),
    field("Language", language, "A language code like en, de or pt-BR."),
    languages,
    h("fieldset", {}, h("legend", {}, "Lead capture: ask visitors for"), h("div", { class: "checks" }, leadBoxes)),
    h("h2", {}, "Language model"),
    h(
      "div",
      { class: "grid-2" },
      field("Backend", backend),
      field("Model", model, "Leave empty for the backend's default model."),
      field("Temperature", temperature, "0 is focused and repeatable, 2 is very loose. 0.3 suits support."),
      field("Max tokens per answer", maxTokens, "16 – 4096."),
      field("Monthly token budget", budget, "0 blocks the language model: the bot gives direct answers only."),
      field("Direct-answer threshold", threshold, "0 – 1.3 (default 0.8). An FAQ whose match scores this or more (its question and phrasings, its answer and the words they share with the question) is answered word for word."),
    ),
    h("div", { class: "actions" }, save, saved),
  );
  if (!canEdit) for (const control of form.querySelectorAll("input, select, textarea")) control.disabled = true;
  form.addEventListener("input", () => (saved.textContent = ""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value,
      system_prompt: systemPrompt.value,
      persona: persona.value,
      welcome_message: welcome.value,
      language: language.value.trim(),
      lead_fields: [...form.querySelectorAll('input[name="lead_fields"]:checked')].map((box) => box.value),
      llm: {
        backend: backend.value,
        model: model.value,
        temperature: numberValue(temperature),
        max_tokens: numberValue(maxTokens),
        monthly_token_budget: numberValue(budget),
      },
      direct_answer_threshold: numberValue(threshold),
    };
    const updated = await run(save, () => patch(`/api/bots/${bot.id}`, body), { form, context: "Could not save the settings" });
    if (updated) {
      onBotChange(updated);
      saved.textContent = "Saved.";
    }
  });

  const remove = h("button", { type: "button", class: "danger", "data-testid": "delete-bot", disabled: !canEdit }, "Delete bot");
  remove.addEventListener("click", async () => {
    const ok = await confirmAction(`Delete the bot “${bot.name}”? Its knowledge, conversations and widget keys are deleted too. This cannot be undone.`, { action: "Delete bot" });
    if (!ok) return;
    const done = await run(remove, async () => (await del(`/api/bots/${bot.id}`), true), { context: "Could not delete the bot" });
    if (!done) return;
    // The auth service does not hear of deleted bots: revoke the bot's widget keys here.
    const revoked = await run(remove, async () => {
      const keys = await get("/api/auth/widget-keys");
      for (const key of keys.filter((k) => k.bot_id === bot.id && !k.revoked_at)) await del(`/api/auth/widget-keys/${key.id}`);
      return true;
    }, { context: "The bot is deleted, but its widget keys could not all be revoked; revoke them on the Keys page" });
    if (revoked) ctx.navigate("#/bots");
  });

  add(root, 
    canEdit ? null : h("p", { class: "notice" }, `Your role (${ctx.me ? ctx.me.role : "unknown"}) can view these settings; an admin or owner can change them.`),
    form,
    h("section", { class: "card danger-zone", "aria-labelledby": "danger-title" }, h("h2", { id: "danger-title" }, "Delete this bot"), h("p", {}, "Removes the bot with everything it was taught and every conversation it had."), remove),
  );
}
