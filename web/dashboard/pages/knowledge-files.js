// Knowledge › Files: upload (with progress) or fetch from a URL, then follow ingestion live.

import { del, get, post, upload } from "../api.js";
import { add, confirmAction, empty, field, fmtBytes, fmtDate, h, mount, poller, reconcile, run, safeUrl, showError } from "../dom.js";

// Still being ingested: keep polling. Everything else (ready, failed, paused, cancelled) is final.
export const IN_PROGRESS = new Set(["pending", "queued", "running"]);
const ACCEPT = ".pdf,.docx,.html,.htm,.md,.markdown,.txt,.csv,.jsonl";

export function statusTone(status) {
  return { ready: "ok", failed: "bad", running: "busy", queued: "busy", pending: "busy", paused: "warn", cancelled: "muted" }[status] || "";
}

export default function renderFiles(root, ctx, bot) {
  const canEdit = ctx.hasRole("admin");
  const rows = h("tbody", {});
  const table = h(
    "table",
    { class: "table sources" },
    h("caption", { class: "sr-only" }, "Files and collections"),
    h(
      "thead",
      {},
      h("tr", {}, ["Name", "Status", "Progress", "Size", "Updated", "Actions"].map((label) => h("th", { scope: "col" }, label))),
    ),
    rows,
  );
  const listHolder = h("div", { class: "list-holder" }, h("p", { class: "muted" }, "Loading files…"));

  const load = async () => {
    const sources = await get("/api/knowledge/files", { query: { bot_id: bot.id }, signal: ctx.signal });
    if (!sources.length) {
      mount(listHolder, empty("No files yet — upload a PDF, Word file, web page, Markdown, text or CSV above, or add one from a URL."));
      rows.replaceChildren();
      return false;
    }
    if (!listHolder.contains(table)) mount(listHolder, table);
    reconcile(rows, sources, (s) => s.id, (s) => sourceRow(s, { canEdit, refresh: () => poll.kick() }), updateSourceRow);
    return sources.some((s) => IN_PROGRESS.has(s.status));
  };
  const poll = poller(load, { signal: ctx.signal });

  // -- upload ----------------------------------------------------------------------------------
  const fileInput = h("input", { type: "file", name: "file", accept: ACCEPT, required: true, "data-testid": "file-input" });
  const uploadButton = h("button", { type: "submit", class: "primary", "data-testid": "upload-button", disabled: !canEdit }, "Upload");
  const bar = h("progress", { max: 1, value: 0, "aria-label": "Upload progress", "data-testid": "upload-progress" });
  const barText = h("span", { class: "muted", "aria-live": "polite" });
  const barHolder = h("div", { class: "upload-progress", hidden: true }, bar, barText);
  const uploadForm = h(
    "form",
    { class: "form", "aria-labelledby": "upload-title" },
    h("h3", { id: "upload-title" }, "Upload a file"),
    field("File", fileInput, "PDF, DOCX, HTML, Markdown, TXT, CSV, or a .jsonl collection of documents."),
    h("div", { class: "actions" }, uploadButton, barHolder),
  );
  uploadForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) return showError(new Error("Choose a file first."));
    const form = new FormData();
    form.append("bot_id", bot.id);
    form.append("file", file, file.name);
    barHolder.hidden = false;
    bar.value = 0;
    barText.textContent = `Uploading ${file.name}…`;
    const source = await run(
      [uploadButton, fileInput],
      () =>
        upload("/api/knowledge/files", form, {
          signal: ctx.signal,
          onProgress: (fraction) => {
            bar.value = fraction;
            barText.textContent = `Uploading ${file.name}: ${Math.round(fraction * 100)}%`;
          },
        }),
      { form: uploadForm, context: `Could not upload ${file.name}` },
    );
    if (source) {
      bar.value = 1;
      barText.textContent = `Uploaded ${file.name}. Indexing progress is in the list below.`;
      fileInput.value = "";
      poll.kick();
      setTimeout(() => (barHolder.hidden = true), 5000);
    } else {
      barHolder.hidden = true;
    }
  });

  // -- from a URL -----------------------------------------------------------------------------
  const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://www.example.com/price-list.pdf", "data-testid": "file-url" });
  const urlName = h("input", { name: "name", maxlength: 255, placeholder: "optional", "data-testid": "file-url-name" });
  const urlButton = h("button", { type: "submit", "data-testid": "add-file-url", disabled: !canEdit }, "Add from URL");
  const urlForm = h(
    "form",
    { class: "form", "aria-labelledby": "url-title" },
    h("h3", { id: "url-title" }, "Add a file from a URL"),
    h("div", { class: "grid-2" }, field("File URL", url, "A public address of a document (not a whole website: use Website for that)."), field("Name", urlName)),
    h("div", { class: "actions" }, urlButton),
  );
  urlForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { bot_id: bot.id, url: url.value };
    if (urlName.value.trim()) body.name = urlName.value.trim();
    const source = await run(urlButton, () => post("/api/knowledge/files/from-url", body), { form: urlForm, context: "Could not add the file" });
    if (source) {
      url.value = "";
      urlName.value = "";
      poll.kick();
    }
  });

  add(root, 
    canEdit ? h("div", { class: "grid-2 forms" }, uploadForm, urlForm) : h("p", { class: "notice" }, "Only admins and owners can add knowledge."),
    h("h3", {}, "Files and collections"),
    listHolder,
  );
  poll.kick();
}

function sourceRow(source, { canEdit, refresh }) {
  const reindex = h("button", { type: "button", class: "small", "data-testid": "reindex-source", disabled: !canEdit }, "Re-index");
  const remove = h("button", { type: "button", class: "small danger", "data-testid": "delete-source", disabled: !canEdit }, "Delete");
  const row = h(
    "tr",
    { "data-testid": "source-row" },
    h("td", { class: "name" }),
    h("td", {}, h("span", { class: "pill", "data-testid": "source-status" })),
    h("td", { class: "progress-cell" }),
    h("td", { class: "size" }),
    h("td", { class: "updated" }),
    h("td", { class: "row-actions" }, reindex, " ", remove),
  );
  reindex.addEventListener("click", async () => {
    const current = row._source;
    if (await run(reindex, () => post(`/api/knowledge/files/${current.id}/reindex`), { context: `Could not re-index ${current.name}` })) refresh();
  });
  remove.addEventListener("click", async () => {
    const current = row._source;
    const ok = await confirmAction(`Delete “${current.name}”? The bot forgets everything it learnt from this file.`, { action: "Delete file" });
    if (ok && (await run(remove, async () => (await del(`/api/knowledge/files/${current.id}`), true), { context: `Could not delete ${current.name}` }))) refresh();
  });
  return row;
}

function updateSourceRow(row, source) {
  row._source = source;
  const [nameCell, statusCell, progressCell, sizeCell, updatedCell, actionsCell] = row.children;
  const link = safeUrl(source.origin_url);
  mount(
    nameCell,
    h("span", { class: "source-name" }, source.name),
    source.kind !== "file" ? h("span", { class: "muted" }, ` (${source.kind})`) : null,
    link ? h("div", {}, h("a", { href: link, target: "_blank", rel: "noopener noreferrer", class: "small-link" }, source.origin_url)) : null,
    source.status === "failed" && (source.error_code || source.error)
      ? h("div", { class: "source-error", "data-testid": "source-error" }, source.error_code ? h("code", {}, source.error_code) : null, source.error_code && source.error ? " " : null, source.error || "")
      : null,
    source.row_errors && source.row_errors.length
      ? h(
          "details",
          { class: "row-errors" },
          h("summary", {}, `${source.row_errors.length} rejected ${source.row_errors[0].unit}${source.row_errors.length > 1 ? "s" : ""}`),
          h("ul", {}, source.row_errors.map((e) => h("li", {}, `${e.unit} ${e.line}: ${e.message}`))),
        )
      : null,
  );
  const status = statusCell.firstChild;
  status.textContent = source.status;
  status.className = `pill pill-${statusTone(source.status)}`;
  mount(progressCell, progressView(source));
  sizeCell.textContent = fmtBytes(source.size_bytes);
  mount(updatedCell, h("time", { datetime: source.updated_at }, fmtDate(source.updated_at)));
  const [reindex] = actionsCell.querySelectorAll("button");
  reindex.hidden = IN_PROGRESS.has(source.status);
}

/** What ingestion is doing: its stage and document count while running, totals once ready. */
export function progressView(source) {
  const p = source.progress || {};
  if (IN_PROGRESS.has(source.status)) {
    const total = Number(p.documents_total) || 0;
    const done = Number(p.documents_done) || 0;
    const stage = p.stage ? String(p.stage) : source.status === "running" ? "starting" : "waiting to start";
    return h(
      "div",
      { class: "progress-view" },
      total ? h("progress", { max: total, value: done, "aria-label": `Indexing ${source.name}` }) : h("progress", { "aria-label": `Indexing ${source.name}` }),
      h("span", { class: "muted" }, total ? `${stage}: ${done} / ${total} documents` : stage),
    );
  }
  if (source.status === "ready") {
    return h("span", {}, `${source.document_count} document${source.document_count === 1 ? "" : "s"}, ${source.chunk_count} chunk${source.chunk_count === 1 ? "" : "s"}`);
  }
  return h("span", { class: "muted" }, source.indexed_at ? `last indexed ${fmtDate(source.indexed_at)}` : "—");
}
