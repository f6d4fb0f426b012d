// What a bot knows: files, FAQs, website crawls, and a search tester, one section each.

import { add, h } from "../dom.js";
import renderFiles from "./knowledge-files.js";
import renderFaqs from "./knowledge-faqs.js";
import renderWebsite from "./knowledge-website.js";
import renderSearch from "./knowledge-search.js";

const SECTIONS = [
  { id: "files", label: "Files", render: renderFiles },
  { id: "faqs", label: "FAQs", render: renderFaqs },
  { id: "website", label: "Website", render: renderWebsite },
  { id: "search", label: "Search tester", render: renderSearch },
];

export default async function renderKnowledge(root, ctx, bot) {
  const jump = h(
    "nav",
    { class: "jump", "aria-label": "Knowledge sections" },
    SECTIONS.map((s) => {
      const link = h("button", { type: "button", class: "link", "data-testid": `jump-${s.id}` }, s.label);
      // Scroll without touching the URL hash, which belongs to the router.
      link.addEventListener("click", () => {
        const target = document.getElementById(`knowledge-${s.id}`);
        target.scrollIntoView({ behavior: "smooth", block: "start" });
        target.querySelector("h2").focus({ preventScroll: true });
      });
      return link;
    }),
  );
  add(root, jump);
  const work = [];
  for (const section of SECTIONS) {
    const body = h("section", { class: "card knowledge-section", id: `knowledge-${section.id}`, "aria-labelledby": `knowledge-${section.id}-title` }, h("h2", { id: `knowledge-${section.id}-title`, tabindex: -1 }, section.label));
    add(root, body);
    work.push(section.render(body, ctx, bot));
  }
  await Promise.all(work);
}
