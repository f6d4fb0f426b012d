// The owner's live preview: the real widget, on a sketch of a website, signed in as the owner
// (a preview token needs a member of the bot's workspace, not an allowed origin). The dashboard
// frames this page and posts unsaved appearance changes, which are passed on to the widget.

const params = new URLSearchParams(location.search);
const botId = params.get("bot");
const problem = document.getElementById("problem");
let frame = null;
let ready = false;
let latest = null; // the newest unsaved settings from the dashboard

function fail(text) {
  problem.textContent = text;
  problem.hidden = false;
}

function session() {
  try {
    return JSON.parse(localStorage.getItem("cortex.session") || "null");
  } catch {
    return null;
  }
}

async function call(path, options = {}) {
  const auth = session();
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${auth?.access_token || ""}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
  return body;
}

/** A widget key of this bot (the preview makes one, with no allowed origins, if there is none). */
async function widgetKey() {
  const keys = await call(`/api/auth/widget-keys?bot_id=${encodeURIComponent(botId)}`);
  const key = keys.find((k) => !k.revoked_at);
  if (key) return key.public_key;
  return (await call("/api/auth/widget-keys", { method: "POST", body: JSON.stringify({ bot_id: botId, allowed_origins: [] }) })).public_key;
}

let publicKey = null;
async function token() {
  publicKey = publicKey || (await widgetKey());
  return call("/api/auth/visitor-token", { method: "POST", body: JSON.stringify({ public_key: publicKey, preview: true }) });
}

function post(message) {
  frame?.contentWindow?.postMessage({ source: "cortex", ...message }, location.origin);
}

window.addEventListener("message", async (event) => {
  if (event.origin !== location.origin) return;
  const message = event.data || {};
  if (event.source === window.parent && message.type === "cortex:preview") {
    latest = message.bot;
    if (ready) post({ type: "appearance", bot: latest });
    return;
  }
  if (!frame || event.source !== frame.contentWindow || message.source !== "cortex") return;
  if (message.type === "ready") {
    try {
      const issued = await token();
      post({ type: "init", token: issued.visitor_token, expiresIn: issued.expires_in, visitorId: issued.visitor_id, botId, open: true });
      ready = true;
      if (latest) setTimeout(() => post({ type: "appearance", bot: latest }), 300);
    } catch (error) {
      fail(`The preview could not start: ${error.message}`);
    }
  } else if (message.type === "layout") {
    frame.className = (message.open ? "open " : "") + (message.position === "bottom-left" ? "left" : "");
    frame.style.width = message.open ? "" : `${message.width}px`;
    frame.style.height = message.open ? "" : `${message.height}px`;
  } else if (message.type === "token-expired") {
    const issued = await token().catch((error) => fail(error.message));
    if (issued) post({ type: "token", token: issued.visitor_token, expiresIn: issued.expires_in });
  }
});

if (!botId) fail("No bot chosen: open the preview from a bot's page in the dashboard.");
else if (!session()?.access_token) fail("Sign in to the dashboard to preview this bot.");
else {
  frame = document.createElement("iframe");
  frame.title = "Chat preview";
  frame.src = `/widget?v=${encodeURIComponent(document.querySelector('script[src*="/static/"]').src.split("/static/")[1].split("/")[0])}`;
  document.body.append(frame);
  window.parent.postMessage({ type: "cortex:preview-ready" }, location.origin);
}
