// Account: the signed-in member's own password.

import { post, saveTokens } from "../api.js";
import { add, field, h, run } from "../dom.js";

export default async function renderAccount(root, ctx) {
  const current = h("input", { type: "password", name: "current_password", autocomplete: "current-password", required: true, "data-testid": "current-password" });
  const next = h("input", { type: "password", name: "new_password", autocomplete: "new-password", required: true, "data-testid": "new-password" });
  const again = h("input", { type: "password", name: "confirm", autocomplete: "new-password", required: true, "data-testid": "confirm-password" });
  const save = h("button", { type: "submit", class: "primary", "data-testid": "change-password" }, "Change password");
  const done = h("p", { role: "status", class: "muted" });
  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Password"),
    field("Current password", current),
    field("New password", next, "A long passphrase, not one from a breached-password list."),
    field("New password again", again),
    h("div", { class: "actions" }, save, done),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    done.textContent = "";
    if (next.value !== again.value) {
      done.textContent = "The two new passwords differ.";
      again.focus();
      return;
    }
    const pair = await run(save, () => post("/api/auth/password", { current_password: current.value, new_password: next.value }), {
      form,
      context: "Could not change the password",
    });
    if (pair) {
      saveTokens(pair); // every other session has ended; this one carries on with new tokens
      form.reset();
      done.textContent = "Password changed. Other devices are signed out.";
    }
  });
  add(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Account"), h("p", { class: "muted" }, ctx.me ? ctx.me.user.email : "")),
    form,
  );
}
