// Log in, create an account (and its workspace), or continue with an OIDC provider.

import { get, post, saveTokens } from "../api.js";
import { add, field, h, run, showError } from "../dom.js";

export default async function renderLogin(root, ctx) {
  const notice = ctx.takeNotice();
  const providers = h("div", { class: "oidc" });

  add(root, 
    h(
      "div",
      { class: "auth" },
      h("div", { class: "auth-brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "◆"), " Cortex"),
      h("h1", {}, "Welcome to Cortex"),
      h("p", { class: "muted" }, "Log in to manage your bots, or create an account to start one."),
      notice ? h("p", { class: "notice info", role: "status" }, notice) : null,
      h("div", { class: "auth-grid" }, loginForm(ctx), registerForm(ctx)),
      providers,
    ),
  );

  try {
    const { providers: names } = await get("/api/auth/oidc/providers", { auth: false, signal: ctx.signal });
    if (names.length) {
      providers.append(
        h("p", { class: "muted" }, "Or continue with"),
        h(
          "div",
          { class: "actions" },
          names.map((name) =>
            h(
              "a",
              {
                class: "button",
                href: `/api/auth/oidc/${encodeURIComponent(name)}/login?redirect_to=${encodeURIComponent("/dashboard")}`,
                "data-testid": `oidc-${name}`,
              },
              `Continue with ${providerLabel(name)}`,
            ),
          ),
        ),
      );
    }
  } catch (error) {
    showError(error, { context: "Could not list the single sign-on providers" });
  }
}

function providerLabel(name) {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function loginForm(ctx) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true, "data-testid": "login-email" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Log in");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "login-title" },
    h("h2", { id: "login-title" }, "Log in"),
    field("Email", email),
    field("Password", password),
    h("div", { class: "actions" }, submit, h("a", { href: "#/forgot-password", "data-testid": "forgot-password" }, "Forgot your password?")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pair = await run(submit, () => post("/api/auth/login", { email: email.value, password: password.value }, { auth: false }), {
      form,
      context: "Could not log in",
    });
    if (pair) {
      saveTokens(pair);
      await ctx.signedIn();
    }
  });
  return form;
}

function registerForm(ctx) {
  const email = h("input", { name: "email", type: "email", autocomplete: "email", required: true, "data-testid": "register-email" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true, "data-testid": "register-password" });
  const workspace = h("input", { name: "workspace_name", maxlength: 120, required: true, "data-testid": "register-workspace" });
  const displayName = h("input", { name: "display_name", maxlength: 120, autocomplete: "name", "data-testid": "register-name" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "register-submit" }, "Create account");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "Create an account"),
    field("Email", email),
    field("Password", password, "A long passphrase works best (10 characters or more, not a common password)."),
    field("Workspace name", workspace, "Your business or team; you can invite others later."),
    field("Your name (optional)", displayName),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { email: email.value, password: password.value, workspace_name: workspace.value };
    if (displayName.value.trim()) body.display_name = displayName.value;
    const accepted = await run(submit, () => post("/api/auth/register", body, { auth: false }), { form, context: "Could not create the account" });
    if (!accepted) return;
    // Sign-up answers alike whether or not the address already had an account: the new owner logs in.
    const login = { email: body.email, password: body.password };
    const pair = await run(submit, () => post("/api/auth/login", login, { auth: false }), { form, context: accepted.message });
    if (pair) {
      saveTokens(pair);
      await ctx.signedIn();
    }
  });
  return form;
}
