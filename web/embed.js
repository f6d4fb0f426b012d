/*! Cortex chat widget loader. Paste on your site:
 *  <script src="https://YOUR-CORTEX-HOST/embed.js" data-bot-key="pk_..." async></script>
 * It asks Cortex for a visitor token (the browser's Origin header must be on the key's list),
 * then adds one iframe (the chat, served by Cortex) inside a shadow root, so the page's CSS and
 * scripts and the widget's never touch. A refused site gets nothing on screen.
 */
(function () {
  "use strict";
  var VERSION = "{{version}}";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-bot-key")) return;
  var key = script.getAttribute("data-bot-key");
  var host = new URL(script.src, location.href).origin;
  var registry = (window.__cortexWidgets = window.__cortexWidgets || {});
  if (registry[key]) return; // pasted twice: one widget
  registry[key] = true;

  var storeKey = "cortex:" + key + ":";
  function load(name) {
    try { return localStorage.getItem(storeKey + name); } catch (e) { return null; }
  }
  function save(name, value) {
    try {
      if (value) localStorage.setItem(storeKey + name, value);
      else localStorage.removeItem(storeKey + name);
    } catch (e) { /* storage blocked: the conversation lasts for this page only */ }
  }

  function exchange(visitorId) {
    var body = { public_key: key };
    if (visitorId) body.visitor_id = visitorId;
    return fetch(host + "/api/auth/visitor-token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (response.ok) return data;
        if (response.status === 422 && visitorId) return exchange(null); // a stored id we no longer accept
        var error = new Error((data && data.error && data.error.message) || "HTTP " + response.status);
        error.status = response.status;
        throw error;
      });
    });
  }

  var frame, box, token, refreshTimer, ready = false, pending = [];

  function post(message) {
    message.source = "cortex";
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(message, host);
  }

  function scheduleRefresh(expiresIn) {
    clearTimeout(refreshTimer);
    // Renew at 80% of the lifetime, so a long-open tab never sends an expired token.
    refreshTimer = setTimeout(renew, Math.max(30, expiresIn * 0.8) * 1000);
  }

  function renew() {
    exchange(load("visitor")).then(function (data) {
      token = data;
      scheduleRefresh(data.expires_in);
      post({ type: "token", token: data.visitor_token, expiresIn: data.expires_in });
    }, function (error) {
      if (error.status === 403 || error.status === 404) teardown();
      else setTimeout(renew, 15000);
    });
  }

  function teardown() {
    clearTimeout(refreshTimer);
    if (box && box.parentNode) box.parentNode.removeChild(box);
    frame = box = null;
    ready = false;
  }

  function mount(data) {
    token = data;
    save("visitor", data.visitor_id);
    scheduleRefresh(data.expires_in);
    box = document.createElement("div");
    box.setAttribute("data-cortex-widget", "");
    var root = box.attachShadow ? box.attachShadow({ mode: "closed" }) : box;
    var style = document.createElement("style");
    style.textContent =
      ":host{all:initial}" +
      "iframe{position:fixed;bottom:0;right:0;border:0;background:transparent;color-scheme:normal;" +
      "z-index:2147483000;width:0;height:0;max-width:100vw;max-height:100vh;overflow:hidden}" +
      "iframe.left{right:auto;left:0}" +
      "iframe.open{width:420px;height:min(680px,100vh)}" +
      "@media (max-width:480px){iframe.open{width:100vw;height:100vh;height:100dvh}}";
    frame = document.createElement("iframe");
    frame.title = "Chat";
    frame.setAttribute("allow", "clipboard-write");
    frame.src = host + "/widget?v=" + VERSION;
    root.appendChild(style);
    root.appendChild(frame);
    (document.body || document.documentElement).appendChild(box);
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== host) return;
    var message = event.data || {};
    if (message.source !== "cortex") return;
    if (message.type === "ready") {
      post({
        type: "init",
        token: token.visitor_token,
        expiresIn: token.expires_in,
        visitorId: token.visitor_id,
        botId: token.bot_id,
        conversationId: load("conversation"),
        page: { url: location.href, title: document.title }
      });
      ready = true;
      while (pending.length) post(pending.shift());
    } else if (message.type === "layout") {
      frame.className = (message.open ? "open " : "") + (message.position === "bottom-left" ? "left" : "");
      if (!message.open) {
        frame.style.width = message.width + "px";
        frame.style.height = message.height + "px";
      } else {
        frame.style.width = frame.style.height = "";
      }
    } else if (message.type === "conversation") {
      save("conversation", message.id);
    } else if (message.type === "token-expired") {
      renew();
    }
  });

  // A small API for the host page: Cortex.open(), Cortex.close(), Cortex.ask("question").
  function send(message) {
    if (ready) post(message);
    else pending.push(message);
  }
  window.Cortex = window.Cortex || {
    open: function () { send({ type: "open" }); },
    close: function () { send({ type: "close" }); },
    ask: function (text) { send({ type: "ask", text: String(text) }); }
  };

  function start() {
    exchange(load("visitor")).then(mount, function (error) {
      // Deny by default: a site that is not on the key's list shows nothing at all.
      if (window.console) console.warn("Cortex widget not shown: " + error.message);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
