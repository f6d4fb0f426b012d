// Knowledge › FAQs: questions with the exact answer to give; add, edit, delete, bulk import
// (a job: its progress is followed until the FAQs are in, or the import failed and changed nothing).

import { del, get, patch, post, upload } from "../api.js";
import { add, checkbox, confirmAction, empty, field, h, lines, mount, poller, run, showError } from "../dom.js";
import { IN_PROGRESS, statusTone } from "./knowledge-files.js";

const PAGE_SIZE = 100;
const PHRASINGS_HINT = "Other ways visitors ask this, one per line (up to 20). The bot matches them like the question.";

function tagList(text) {
  return String(text || "")
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
}

export default function renderFaqs(root, ctx, bot) {
  const canEdit = ctx.hasRole("admin");
  const list = h("div", { class: "faq-list", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading FAQs…"));
  const search = h("input", { type: "search", name: "q", maxlength: 200, placeholder: "Search questions, phrasings and answers", "aria-label": "Search FAQs", "data-testid": "faq-search" });
  const count = h("span", { class: "muted" });

  const load = async () => {
    let faqs;
    try {
      faqs = await get("/api/knowledge/faqs", { query: { bot_id: bot.id, q: search.value.trim(), limit: PAGE_SIZE }, signal: ctx.signal });
    } catch (error) {
      return showError(error, { context: "Could not load FAQs" });
    }
    count.textContent = faqs.length >= PAGE_SIZE ? `(first ${PAGE_SIZE} shown — search to narrow down)` : `(${faqs.length})`;
    if (!faqs.length) {
      mount(list, empty(search.value.trim() ? "No FAQ matches this search." : "No FAQs yet — add the questions customers ask most, with the exact answer to give."));
      return;
    }
    mount(list, h("ul", { class: "faqs" }, faqs.map((faq) => faqItem(faq, { canEdit, reload: load }))));
  };
  let searchTimer;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(load, 300);
  });

  // -- add ---------------------------------------------------------------------------------------
  const question = h("input", { name: "question", minlength: 3, maxlength: 500, required: true, "data-testid": "faq-question" });
  const answer = h("textarea", { name: "answer", rows: 3, maxlength: 5000, required: true, "data-testid": "faq-answer" });
  const tags = h("input", { name: "tags", placeholder: "pricing, shipping", "data-testid": "faq-tags" });
  const phrasings = h("textarea", { name: "phrasings", rows: 2, placeholder: "How much is delivery?", "data-testid": "faq-phrasings" });
  const addButton = h("button", { type: "submit", class: "primary", "data-testid": "add-faq", disabled: !canEdit }, "Add FAQ");
  const addForm = h(
    "form",
    { class: "form", "aria-labelledby": "faq-add-title" },
    h("h3", { id: "faq-add-title" }, "Add an FAQ"),
    field("Question", question),
    field("Answer", answer),
    field("Alternative phrasings", phrasings, PHRASINGS_HINT),
    field("Tags (comma separated)", tags),
    h("div", { class: "actions" }, addButton),
  );
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { bot_id: bot.id, question: question.value, answer: answer.value, tags: tagList(tags.value), phrasings: lines(phrasings.value) };
    if (await run(addButton, () => post("/api/knowledge/faqs", body), { form: addForm, context: "Could not add the FAQ" })) {
      addForm.reset();
      await load();
      question.focus();
    }
  });

  // -- import ------------------------------------------------------------------------------------
  const importFile = h("input", { type: "file", name: "file", accept: ".csv,.json,text/csv,application/json", required: true, "data-testid": "faq-import-file" });
  const format = h("select", { name: "format", "data-testid": "faq-import-format" }, h("option", { value: "" }, "Detect from the file"), h("option", { value: "csv" }, "CSV"), h("option", { value: "json" }, "JSON"));
  const importButton = h("button", { type: "submit", "data-testid": "faq-import", disabled: !canEdit }, "Import");
  const importResult = h("div", { class: "import-result", "aria-live": "polite", "data-testid": "faq-import-result" });
  const importForm = h(
    "form",
    { class: "form", "aria-labelledby": "faq-import-title" },
    h("h3", { id: "faq-import-title" }, "Import FAQs"),
    h("p", { class: "hint" }, "CSV with the columns question, answer, tags, phrasings, enabled (tags and phrasings separated by ; or |) — or a JSON list of objects with those keys. Bad rows are listed below; the good ones are imported all together, or, if anything goes wrong, none are and your FAQs stay as they were."),
    h("div", { class: "grid-2" }, field("File", importFile), field("Format", format)),
    h("div", { class: "actions" }, importButton),
    importResult,
  );
  // The import being followed: its record is polled until it is ready or failed.
  let following = null;
  let wasRunning = false;
  const follow = poller(
    async () => {
      if (!following) return false;
      following = await get(`/api/knowledge/faqs/imports/${following.id}`, { signal: ctx.signal });
      mount(importResult, importView(following));
      const running = IN_PROGRESS.has(following.status);
      if (!running && following.status === "ready" && wasRunning) await load();
      wasRunning = running;
      return running;
    },
    { signal: ctx.signal, intervalMs: 1000 },
  );
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = importFile.files[0];
    if (!file) return showError(new Error("Choose a CSV or JSON file first."));
    const form = new FormData();
    form.append("bot_id", bot.id);
    form.append("file", file, file.name);
    if (format.value) form.append("format", format.value);
    importResult.replaceChildren();
    const record = await run([importButton, importFile], () => upload("/api/knowledge/faqs/import", form, { signal: ctx.signal }), { form: importForm, context: "Could not import the FAQs" });
    if (!record) return;
    importFile.value = "";
    following = record;
    wasRunning = true;
    mount(importResult, importView(record));
    follow.kick();
  });
  // An import started earlier (another tab, before a reload) and still running is followed too.
  if (canEdit) {
    get("/api/knowledge/faqs/imports", { query: { bot_id: bot.id }, signal: ctx.signal })
      .then(([latest]) => {
        if (latest && IN_PROGRESS.has(latest.status) && !following) {
          following = latest;
          wasRunning = true;
          follow.kick();
        }
      })
      .catch((error) => showError(error, { context: "Could not load FAQ imports" }));
  }

  add(root, 
    canEdit ? h("div", { class: "grid-2 forms" }, addForm, importForm) : h("p", { class: "notice" }, "Only admins and owners can change FAQs."),
    h("div", { class: "row spread" }, h("h3", {}, "Your FAQs ", count), search),
    list,
  );
  return load();
}

function faqItem(faq, { canEdit, reload }) {
  const item = h("li", { class: "faq", "data-testid": "faq-row" });
  const show = () => {
    const edit = h("button", { type: "button", class: "small", "data-testid": "edit-faq", disabled: !canEdit }, "Edit");
    const remove = h("button", { type: "button", class: "small danger", "data-testid": "delete-faq", disabled: !canEdit }, "Delete");
    edit.addEventListener("click", showEditor);
    remove.addEventListener("click", async () => {
      const ok = await confirmAction(`Delete the FAQ “${faq.question}”?`, { action: "Delete FAQ" });
      if (ok && (await run(remove, async () => (await del(`/api/knowledge/faqs/${faq.id}`), true), { context: "Could not delete the FAQ" }))) await reload();
    });
    mount(
      item,
      h("div", { class: "faq-q" }, faq.question, faq.enabled ? null : h("span", { class: "pill pill-muted" }, "disabled")),
      h("div", { class: "faq-a" }, faq.answer),
      faq.phrasings && faq.phrasings.length
        ? h("div", { class: "faq-phrasings", "data-testid": "faq-phrasings-list" }, h("span", { class: "muted" }, "Also asked as: "), faq.phrasings.map((text, i) => [i ? " · " : null, h("q", {}, text)]))
        : null,
      faq.tags.length ? h("div", { class: "tags" }, faq.tags.map((tag) => h("span", { class: "tag" }, tag))) : null,
      h("div", { class: "row-actions" }, edit, remove),
    );
  };
  const showEditor = () => {
    const question = h("input", { name: "question", minlength: 3, maxlength: 500, required: true, value: faq.question });
    const answer = h("textarea", { name: "answer", rows: 3, maxlength: 5000, required: true });
    answer.value = faq.answer;
    const tags = h("input", { name: "tags", value: faq.tags.join(", ") });
    const phrasings = h("textarea", { name: "phrasings", rows: 3, "data-testid": "faq-edit-phrasings" });
    phrasings.value = (faq.phrasings || []).join("\n");
    const enabled = checkbox("Enabled (the bot uses this FAQ)", { name: "enabled", checked: faq.enabled });
    const save = h("button", { type: "submit", class: "primary small" }, "Save");
    const cancel = h("button", { type: "button", class: "small" }, "Cancel");
    const form = h("form", { class: "form", "aria-label": "Edit FAQ" }, field("Question", question), field("Answer", answer), field("Alternative phrasings", phrasings, PHRASINGS_HINT), field("Tags (comma separated)", tags), enabled, h("div", { class: "actions" }, save, cancel));
    cancel.addEventListener("click", show);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { question: question.value, answer: answer.value, tags: tagList(tags.value), phrasings: lines(phrasings.value), enabled: enabled.querySelector("input").checked };
      const updated = await run(save, () => patch(`/api/knowledge/faqs/${faq.id}`, body), { form, context: "Could not save the FAQ" });
      if (updated) {
        faq = updated;
        show();
      }
    });
    mount(item, form);
    question.focus();
  };
  show();
  return item;
}

/** An import's state: a bar while it runs, then how many FAQs it brought and which rows it refused. */
function importView(record) {
  const p = record.progress || {};
  const total = Number(p.faqs_total) || 0;
  const done = Number(p.faqs_done) || 0;
  const rejected = record.row_errors || [];
  const status = h("span", { class: `pill pill-${statusTone(record.status)}`, "data-testid": "faq-import-status" }, record.status);
  let summary;
  if (IN_PROGRESS.has(record.status)) {
    const stage = p.stage && p.stage !== "queued" ? String(p.stage) : record.status === "running" ? "starting" : "waiting to start";
    summary = h(
      "div",
      { class: "progress-view" },
      total ? h("progress", { max: total, value: done, "aria-label": `Importing ${record.name}` }) : h("progress", { "aria-label": `Importing ${record.name}` }),
      h("span", { class: "muted" }, total ? `${stage}: ${done} / ${total} FAQs` : stage),
    );
  } else if (record.status === "ready") {
    summary = h("p", { class: rejected.length ? "notice" : "ok-text" }, `Imported ${record.document_count} FAQ${record.document_count === 1 ? "" : "s"}${rejected.length ? `; ${rejected.length} row${rejected.length === 1 ? " was" : "s were"} rejected:` : "."}`);
  } else {
    summary = h("p", { class: "source-error", "data-testid": "faq-import-error" }, record.error || "The import failed; your FAQs are as they were.");
  }
  return [
    h("div", { class: "row" }, h("span", {}, record.name, " "), status),
    summary,
    rejected.length ? h("ul", { class: "row-errors", "data-testid": "faq-import-errors" }, rejected.map((e) => h("li", {}, `${e.unit} ${e.line}: ${e.message}`))) : null,
  ];
}
