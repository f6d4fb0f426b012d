// A small Markdown renderer that builds DOM nodes and never parses HTML: whatever a reply
// contains (a model can be talked into writing <script>), it ends up as text. Supported:
// paragraphs, line breaks, bullet and numbered lists, ``` code blocks, `code`, **bold**,
// *italic*, [links](https://…), bare https:// links, and [1]-style citation markers.

const INLINE = /(\*\*([^*]+)\*\*)|(\*([^*\s][^*]*)\*)|(`([^`]+)`)|(\[([^\]]+)\]\(([^)\s]+)\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])|(\[(\d{1,2})\])/g;

/** Only web and mail links survive; anything else (javascript:, data:) stays text. */
export function safeUrl(href) {
  try {
    const url = new URL(href, "https://invalid.example");
    if (url.host === "invalid.example") return null; // relative: nothing on the widget's origin to link to
    return ["https:", "http:", "mailto:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(text, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}

/** Inline markup of one line into `parent`; `cite(n)` makes the node for a [n] marker, or null. */
function inline(parent, text, cite) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[1]) {
      const strong = document.createElement("strong");
      inline(strong, match[2], cite);
      parent.append(strong);
    } else if (match[3]) {
      const em = document.createElement("em");
      inline(em, match[4], cite);
      parent.append(em);
    } else if (match[5]) {
      const code = document.createElement("code");
      code.textContent = match[6];
      parent.append(code);
    } else if (match[7]) {
      const href = safeUrl(match[9]);
      parent.append(href ? link(match[8], href) : match[8]);
    } else if (match[10]) {
      const href = safeUrl(match[10]);
      parent.append(href ? link(match[10], href) : match[10]);
    } else if (match[11]) {
      parent.append(cite(Number(match[12])) || match[11]);
    }
  }
  if (last < text.length) parent.append(text.slice(last));
}

function lines(parent, text, cite) {
  text.split("\n").forEach((line, i) => {
    if (i) parent.append(document.createElement("br"));
    inline(parent, line, cite);
  });
}

/** Render `source` into a DocumentFragment. */
export function render(source, cite = () => null) {
  const fragment = document.createDocumentFragment();
  const parts = String(source).replace(/\r\n?/g, "\n").split(/```[^\n]*\n?/);
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = part.replace(/\n$/, "");
      pre.append(code);
      fragment.append(pre);
      return;
    }
    for (const block of part.split(/\n{2,}/)) {
      const trimmed = block.trim();
      if (!trimmed) continue;
      const rows = trimmed.split("\n");
      const bullet = rows.every((row) => /^\s*[-*•]\s+/.test(row));
      const numbered = rows.every((row) => /^\s*\d{1,3}[.)]\s+/.test(row));
      if (bullet || numbered) {
        const list = document.createElement(bullet ? "ul" : "ol");
        for (const row of rows) {
          const item = document.createElement("li");
          lines(item, row.replace(/^\s*(?:[-*•]|\d{1,3}[.)])\s+/, ""), cite);
          list.append(item);
        }
        fragment.append(list);
      } else {
        const p = document.createElement("p");
        lines(p, trimmed, cite);
        fragment.append(p);
      }
    }
  });
  return fragment;
}
