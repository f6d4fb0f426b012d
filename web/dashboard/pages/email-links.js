// The pages the mailed links open, and the banner of an account whose address is not verified yet:
// #/verify-email?token=…, #/invitation?token=…, #/forgot-password and #/reset-password?token=….
// A link's token stays in the URL fragment: the browser never sends it to a server's logs.

import { loadSession, post, saveTokens } from "../api.js";
import { field, h, mount, run } from "../dom.js";

/** The banner over every page while the signed-in account has not proved its address. */
export function unverifiedBanner(me) {
  if (!me || me.user.email_verified) return null;
  const resend = h("button", { type: "button", class: "small", "data-testid": "resend-verification" }, "Send a new link");
  const status = h("span", { role: "status", class: "muted" });
  resend.addEventListener("click", async () => {
    const sent = await run(resend, () => post("/api/auth/verify-email/resend", {}), { context: "Could not send the link" });
    if (sent) status.textContent = ` ${sent.message}`;
  });
  return h(
    "div",
    { class: "notice info", role: "note", "data-testid": "unverified-banner" },
    h("strong", {}, "Verify your address. "),
    `Open the link we mailed to ${me.user.email}. Until then you can build and preview bots, but not create API keys, put a widget on a website or invite anyone. `,
    resend,
    status,
  );
}

// -- verify the address -----------------------------------------------------------------------

export async function renderVerifyEmail(root, ctx) {
  const token = ctx.query.get("token");
  const page = authPage(root, "Verify your address");
  if (!token) return mount(page, h("p", {}, "This link has no token. Open the link from the mail again, or send a new one from the dashboard."));
  if (!loadSession()) {
    return mount(
      page,
      h("p", {}, "Log in with the account this mail was sent for to finish. (A verification link works only for its own account, signed in.)"),
      inlineLogin(ctx, () => ctx.navigate(location.hash)),
    );
  }
  mount(page, h("p", { role: "status" }, "Verifying…"));
  const user = await run(null, () => post("/api/auth/verify-email", { token }), { context: "Could not verify the address" });
  if (!user) {
    return mount(page, h("p", { "data-testid": "verify-failed" }, "The link did not work. Send a new one from the banner in the dashboard."), toDashboard());
  }
  if (ctx.me) ctx.me.user = user;
  mount(page, h("p", { role: "status", "data-testid": "verified" }, `${user.email} is verified. Every part of Cortex is open to you now.`), toDashboard());
}

// -- accept an invitation -----------------------------------------------------------------------

export async function renderInvitation(root, ctx) {
  const token = ctx.query.get("token");
  const page = authPage(root, "Join a workspace");
  if (!token) return mount(page, h("p", {}, "This link has no token. Open the link from the invitation mail again."));
  if (!loadSession()) {
    return mount(
      page,
      h("p", {}, "Log in with the account of the address this invitation was sent to. No account yet? "),
      h("p", {}, h("a", { href: "#/login" }, "Create one"), " with that address, verify it from the mail we send you, then open the invitation link again."),
      inlineLogin(ctx, () => ctx.navigate(location.hash)),
    );
  }
  const accept = h("button", { type: "button", class: "primary", "data-testid": "accept-invitation" }, "Accept the invitation");
  const result = h("div", { "aria-live": "polite" });
  accept.addEventListener("click", async () => {
    const joined = await run(accept, () => post("/api/auth/invitations/accept", { token }), { context: "Could not accept the invitation" });
    if (!joined) return;
    const pair = await run(accept, () => post("/api/auth/switch-workspace", { workspace_id: joined.workspace.id }), {
      context: "You joined, but switching to the workspace failed; pick it from the menu",
    });
    if (pair) {
      saveTokens(pair);
      mount(result, h("p", { role: "status", "data-testid": "invitation-accepted" }, joined.message));
      await ctx.signedIn();
    }
  });
  mount(
    page,
    h("p", {}, `You are signed in as ${ctx.me ? ctx.me.user.email : "…"}. The invitation must have been sent to this address, and the address must be verified.`),
    h("div", { class: "actions" }, accept),
    result,
  );
}

// -- password reset ---------------------------------------------------------------------------

export async function renderForgotPassword(root, ctx) {
  const page = authPage(root, "Forgot your password?");
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, "data-testid": "reset-email" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "reset-request" }, "Mail me a link");
  const done = h("p", { role: "status", "data-testid": "reset-requested" });
  const form = h(
    "form",
    { class: "card" },
    field("Email", email, "We mail this address a link to choose a new password; it works once, for half an hour."),
    h("div", { class: "actions" }, submit),
    done,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const accepted = await run(submit, () => post("/api/auth/password-reset", { email: email.value }, { auth: false }), {
      form,
      context: "Could not ask for a link",
    });
    if (accepted) done.textContent = accepted.message;
  });
  mount(page, form, h("p", {}, h("a", { href: "#/login" }, "Back to the login page")));
  void ctx;
}

export async function renderResetPassword(root, ctx) {
  const token = ctx.query.get("token");
  const page = authPage(root, "Choose a new password");
  if (!token) return mount(page, h("p", {}, "This link has no token. "), h("a", { href: "#/forgot-password" }, "Ask for a new link"));
  const next = h("input", { type: "password", name: "new_password", autocomplete: "new-password", required: true, "data-testid": "reset-new-password" });
  const again = h("input", { type: "password", name: "confirm", autocomplete: "new-password", required: true, "data-testid": "reset-confirm-password" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "reset-submit" }, "Set the new password");
  const done = h("p", { role: "status" });
  const form = h(
    "form",
    { class: "card" },
    field("New password", next, "A long passphrase, not one from a breached-password list."),
    field("New password again", again),
    h("div", { class: "actions" }, submit),
    done,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (next.value !== again.value) {
      done.textContent = "The two passwords differ.";
      again.focus();
      return;
    }
    const reset = await run(submit, () => post("/api/auth/password-reset/confirm", { token, new_password: next.value }, { auth: false }), {
      form,
      context: "Could not set the password",
    });
    if (!reset) return;
    mount(page, h("p", { role: "status", "data-testid": "reset-done" }, reset.message), h("p", {}, h("a", { href: "#/login", class: "button primary" }, "Log in")));
  });
  mount(page, form);
  void ctx;
}

// -- shared -----------------------------------------------------------------------------------

function authPage(root, title) {
  const body = h("div");
  root.append(
    h(
      "div",
      { class: "auth" },
      h("div", { class: "auth-brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "◆"), " Cortex"),
      h("h1", {}, title),
      body,
    ),
  );
  return body;
}

function toDashboard() {
  return h("p", {}, h("a", { href: "#/bots", class: "button" }, "Go to the dashboard"));
}

/** A login form that stays on this page: the link's token must survive signing in. */
function inlineLogin(ctx, then) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true, "data-testid": "link-login-email" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "link-login-password" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "link-login-submit" }, "Log in");
  const form = h("form", { class: "card" }, field("Email", email), field("Password", password), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pair = await run(submit, () => post("/api/auth/login", { email: email.value, password: password.value }, { auth: false }), {
      form,
      context: "Could not log in",
    });
    if (pair) {
      saveTokens(pair);
      then();
    }
  });
  void ctx;
  return form;
}
