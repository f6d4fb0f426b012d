// The dashboard shell: hash router, left nav, workspace switcher and user menu.
// A page is a module whose default export renders into a container: render(root, ctx).

import { SESSION_KEY, clearSession, exchangeLoginCode, get, loadSession, post, saveTokens, setSignedOutHandler } from "./api.js";
import { clearError, h, mount, run, setBanner, showError } from "./dom.js";
import renderAccount from "./pages/account.js";
import renderLogin from "./pages/login.js";
import renderBots from "./pages/bots.js";
import renderBot from "./pages/bot.js";
import renderConversations from "./pages/conversations.js";
import renderConversation from "./pages/conversation.js";
import renderTeam from "./pages/team.js";
import renderKeys from "./pages/keys.js";
import renderHelper from "./pages/helper.js";
import renderBookings from "./pages/bookings.js";
import { renderExperiment } from "./pages/helper-experiments.js";
import { renderForgotPassword, renderInvitation, renderResetPassword, renderVerifyEmail, unverifiedBanner } from "./pages/email-links.js";

export const ROLE_RANK = { viewer: 0, agent: 1, admin: 2, owner: 3 };

// The left nav, in order. A new area (Helper, Appointments, Analytics, Marketing …) is one entry
// here and its routes below; `minRole` hides an entry from members who could not use it.
const NAV = [
  { href: "#/bots", label: "Bots", section: "bots" },
  { href: "#/conversations", label: "Conversations", section: "conversations" },
  { href: "#/helper", label: "Helper", section: "helper" },
  { href: "#/bookings", label: "Bookings", section: "bookings" },
  { href: "#/team", label: "Team", section: "team" },
  { href: "#/keys", label: "API & widget keys", section: "keys", minRole: "admin" },
];

const UUID = "([0-9a-fA-F-]{36})";
const ROUTES = [
  { path: /^\/login$/, render: renderLogin, public: true, title: "Log in" },
  { path: /^\/forgot-password$/, render: renderForgotPassword, public: true, title: "Forgot your password?" },
  // The pages mailed links open (`open`: signed in or not; each page asks for a login when needed).
  { path: /^\/verify-email$/, render: renderVerifyEmail, open: true, title: "Verify your address" },
  { path: /^\/invitation$/, render: renderInvitation, open: true, title: "Join a workspace" },
  { path: /^\/reset-password$/, render: renderResetPassword, open: true, title: "Choose a new password" },
  { path: /^\/account$/, render: renderAccount, title: "Account" },
  { path: /^\/bots$/, render: renderBots, section: "bots", title: "Bots" },
  {
    path: new RegExp(`^/bots/${UUID}(?:/(settings|appearance|embed|knowledge))?$`),
    params: ["botId", "tab"],
    render: renderBot,
    section: "bots",
    title: "Bot",
  },
  { path: /^\/conversations$/, render: renderConversations, section: "conversations", title: "Conversations" },
  {
    path: new RegExp(`^/conversations/${UUID}$`),
    params: ["conversationId"],
    render: renderConversation,
    section: "conversations",
    title: "Conversation",
  },
  { path: /^\/helper(?:\/(experiments))?$/, params: ["tab"], render: renderHelper, section: "helper", title: "Helper" },
  {
    path: new RegExp(`^/helper/experiments/${UUID}$`),
    params: ["experimentId"],
    render: renderExperiment,
    section: "helper",
    title: "Experiment",
  },
  { path: /^\/bookings(?:\/(week|settings|calendars))?$/, params: ["tab"], render: renderBookings, section: "bookings", title: "Bookings" },
  { path: /^\/team$/, render: renderTeam, section: "team", title: "Team" },
  { path: /^\/keys$/, render: renderKeys, section: "keys", title: "Keys" },
];

const elements = {
  app: document.getElementById("app"),
  sidebar: document.getElementById("sidebar"),
  topbar: document.getElementById("topbar"),
  page: document.getElementById("page"),
};

const state = {
  me: null, // GET /api/auth/me: {user, workspace, role, workspaces}
  controller: null, // aborts the current page's requests, polls and streams on navigation
  notice: null, // a message for the login page (why the user was signed out)
};

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** True when the signed-in member has at least `role` in this workspace. */
export function hasRole(role) {
  return Boolean(state.me) && ROLE_RANK[state.me.role] >= ROLE_RANK[role];
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

async function loadMe() {
  try {
    state.me = await get("/api/auth/me");
  } catch (error) {
    state.me = null;
    if (loadSession()) showError(error, { context: "Could not load your account" });
  }
  return state.me;
}

async function route() {
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  clearError();

  const { path, query } = parseHash();
  const session = loadSession();
  if (path === "/" || path === "") return navigate(session ? "#/bots" : "#/login");
  const match = ROUTES.map((r) => ({ r, m: r.path.exec(path) })).find((x) => x.m);
  if (!match) {
    renderShell(null);
    mount(
      elements.page,
      h("h1", {}, "Page not found"),
      h("p", {}, "There is nothing at this address. "),
      h("a", { href: "#/bots" }, "Go to your bots"),
    );
    return;
  }
  const { r, m } = match;
  if (!r.public && !r.open && !session) return navigate("#/login");
  if (r.public && session) return navigate("#/bots");

  if (!r.public && session && !state.me) await loadMe();
  if (controller.signal.aborted) return;
  renderShell(r.public || r.open ? null : r.section);

  const params = {};
  (r.params || []).forEach((name, i) => (params[name] = m[i + 1] ? decodeURIComponent(m[i + 1]) : undefined));
  document.title = `${r.title} · Cortex`;
  elements.page.replaceChildren();
  if (!r.public && !r.open && state.me) elements.page.append(unverifiedBanner(state.me) || "");
  const ctx = {
    params,
    query,
    signal: controller.signal,
    me: state.me,
    navigate,
    hasRole,
    setTitle: (title) => (document.title = `${title} · Cortex`),
    takeNotice: () => {
      const notice = state.notice;
      state.notice = null;
      return notice;
    },
    signedIn: async () => {
      await loadMe();
      navigate("#/bots");
    },
  };
  try {
    await r.render(elements.page, ctx);
  } catch (error) {
    showError(error, { context: "This page could not load" });
  }
  const heading = elements.page.querySelector("h1");
  if (heading && document.activeElement === document.body) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function renderShell(section) {
  const signedIn = Boolean(section !== null && loadSession());
  elements.app.classList.toggle("signed-out", !signedIn);
  elements.sidebar.hidden = !signedIn;
  elements.topbar.hidden = !signedIn;
  if (!signedIn) return;

  mount(
    elements.sidebar,
    h("a", { class: "brand", href: "#/bots", "aria-label": "Cortex home" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "◆"), "Cortex"),
    h(
      "nav",
      { "aria-label": "Main" },
      h(
        "ul",
        {},
        NAV.filter((item) => !item.minRole || !state.me || hasRole(item.minRole)).map((item) =>
          h(
            "li",
            {},
            h("a", { href: item.href, "aria-current": item.section === section ? "page" : null, "data-testid": `nav-${item.section}` }, item.label),
          ),
        ),
      ),
    ),
  );
  mount(elements.topbar, workspaceControl(), userMenu());
}

function workspaceControl() {
  const me = state.me;
  if (!me) return h("div", { class: "workspace" }, h("span", { class: "muted" }, "Workspace unavailable"));
  if (!me.workspaces || me.workspaces.length < 2) {
    return h("div", { class: "workspace" }, h("span", { class: "workspace-label" }, "Workspace"), h("strong", { "data-testid": "workspace-name" }, me.workspace.name));
  }
  const select = h(
    "select",
    { "aria-label": "Switch workspace", "data-testid": "workspace-switcher", value: me.workspace.id },
    me.workspaces.map((w) => h("option", { value: w.id }, `${w.name}${w.role ? ` (${w.role})` : ""}`)),
  );
  select.addEventListener("change", async () => {
    const target = select.value;
    const pair = await run(select, () => post("/api/auth/switch-workspace", { workspace_id: target }), {
      context: "Could not switch workspace",
    });
    if (!pair) {
      select.value = me.workspace.id;
      return;
    }
    saveTokens(pair);
    await loadMe();
    navigate("#/bots"); // bots, conversations and keys all belong to the workspace
    renderShell("bots");
  });
  return h("div", { class: "workspace" }, h("span", { class: "workspace-label", "aria-hidden": "true" }, "Workspace"), select);
}

function userMenu() {
  const me = state.me;
  const logout = h("button", { type: "button", class: "menu-item", "data-testid": "logout" }, "Log out");
  logout.addEventListener("click", () => logOut(logout));
  return h(
    "details",
    { class: "user-menu" },
    h("summary", { "aria-label": "Account menu", "data-testid": "user-menu" }, h("span", { class: "avatar", "aria-hidden": "true" }, initial(me)), h("span", { class: "user-email" }, me ? me.user.email : "Account")),
    h(
      "div",
      { class: "menu" },
      me ? h("p", { class: "menu-who" }, me.user.display_name || me.user.email, h("br"), h("span", { class: "muted" }, `Role: ${me.role}`)) : null,
      h("a", { href: "#/account", class: "menu-item", "data-testid": "account-link" }, "Account and password"),
      logout,
    ),
  );
}

function initial(me) {
  const text = me ? me.user.display_name || me.user.email : "?";
  return text.trim().charAt(0).toUpperCase() || "?";
}

async function logOut(button) {
  const session = loadSession();
  let failure = null;
  if (session) {
    button.disabled = true;
    try {
      await post("/api/auth/logout", { refresh_token: session.refresh_token });
    } catch (error) {
      failure = error;
    }
  }
  clearSession();
  state.me = null;
  state.notice = failure ? `You are logged out here, but the server did not confirm it: ${failure.message}` : "You are logged out.";
  navigate("#/login");
}

/**
 * The OIDC return, read once when the page loads: the callback sends the browser here with
 * #login_code=… (or #error=…). The code leaves the URL and the history before it is used; the
 * server trades it for the session once, and only in the browser that started the login.
 * Tokens are never taken from a URL: a link carrying someone else's tokens signs nobody in.
 */
async function finishOidcLogin() {
  const hash = location.hash;
  if (!hash.startsWith("#login_code=") && !hash.startsWith("#error=")) return;
  const params = new URLSearchParams(hash.slice(1));
  history.replaceState(null, "", `${location.pathname}${location.search}#/login`);
  const code = params.get("login_code");
  if (!code) {
    state.notice = `Signing in with your identity provider failed: ${params.get("error") || "no login code"}`;
    return;
  }
  mount(elements.page, h("p", { role: "status", "data-testid": "oidc-signing-in" }, "Signing you in…"));
  try {
    await exchangeLoginCode(code);
    state.me = null; // possibly another account than before
    history.replaceState(null, "", `${location.pathname}${location.search}#/bots`);
  } catch (error) {
    state.notice = `Signing in with your identity provider failed: ${error.message}`;
  }
}

async function start() {
  setBanner(document.getElementById("error-banner"));
  setSignedOutHandler((error) => {
    state.me = null;
    state.notice = `Your session has ended (${error.message}). Please log in again.`;
    if (!location.hash.startsWith("#/login")) navigate("#/login");
  });
  window.addEventListener("storage", (event) => {
    if (event.key === SESSION_KEY && !event.newValue && !location.hash.startsWith("#/login")) {
      state.me = null;
      state.notice = "You were logged out in another tab.";
      navigate("#/login");
    }
  });
  window.addEventListener("hashchange", route);
  // The skip link must not change the hash (the router owns it): it only moves focus.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  // Close the account menu on outside clicks and Escape.
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.user-menu[open]")) if (!menu.contains(event.target)) menu.open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") for (const menu of document.querySelectorAll("details.user-menu[open]")) menu.open = false;
  });
  await finishOidcLogin();
  route();
}

start();
