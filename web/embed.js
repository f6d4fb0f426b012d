/*! Cortex chat widget loader. Paste on your site:
 *  <script src="https://YOUR-CORTEX-HOST/embed.js" data-bot-key="pk_..." async></script>
 * It adds one iframe (the chat, served by Cortex) inside a shadow root, so the page's CSS and
 * scripts and the widget's never touch, and hands it the key. The frame asks Cortex for a visitor
 * token (this site's origin must be on the key's list) and keeps the visitor's signed credential
 * in its own storage, which this page's scripts cannot read. A refused site gets nothing on screen.
 * With identity verification, add data-user-id and data-user-hash (computed by your server), or
 * call Cortex.identify({ user_id, user_hash }) once the user signs in.
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

  // Loaders before signed visitor credentials kept the visitor's id and conversation in this
  // page's storage: nothing there is honoured any more, so it goes.
  try {
    localStorage.removeItem("cortex:" + key + ":visitor");
    localStorage.removeItem("cortex:" + key + ":conversation");
  } catch (e) { /* storage blocked */ }

  var identity = null;
  if (script.getAttribute("data-user-id") && script.getAttribute("data-user-hash")) {
    identity = { user_id: script.getAttribute("data-user-id"), user_hash: script.getAttribute("data-user-hash") };
  }

  var frame, box, ready = false, pending = [];

  function post(message) {
    message.source = "cortex";
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(message, host);
  }

  function teardown() {
    if (box && box.parentNode) box.parentNode.removeChild(box);
    frame = box = null;
    ready = false;
  }

  function mount() {
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
      post({ type: "init", publicKey: key, identity: identity, page: { url: location.href, title: document.title } });
      ready = true;
      while (pending.length) post(pending.shift());
    } else if (message.type === "refused") {
      // Deny by default: a site that is not on the key's list shows nothing at all.
      teardown();
      if (window.console) console.warn("Cortex widget not shown: " + message.message);
    } else if (message.type === "layout") {
      frame.className = (message.open ? "open " : "") + (message.position === "bottom-left" ? "left" : "");
      if (!message.open) {
        frame.style.width = message.width + "px";
        frame.style.height = message.height + "px";
      } else {
        frame.style.width = frame.style.height = "";
      }
    }
  });

  // A small API for the host page: Cortex.open(), Cortex.close(), Cortex.ask("question"),
  // Cortex.identify({ user_id, user_hash }) after a sign-in and Cortex.identify(null) after a sign-out.
  function send(message) {
    if (ready) post(message);
    else pending.push(message);
  }
  window.Cortex = window.Cortex || {
    open: function () { send({ type: "open" }); },
    close: function () { send({ type: "close" }); },
    ask: function (text) { send({ type: "ask", text: String(text) }); },
    identify: function (user) {
      var next = user && user.user_id && user.user_hash
        ? { user_id: String(user.user_id), user_hash: String(user.user_hash) }
        : null;
      if (!ready) {
        identity = next; // handed over with the key
        // Refused before (a key requiring verified visitors, on a page that had no user yet): try again.
        if (!frame && next && document.readyState !== "loading") mount();
        return;
      }
      post({ type: "identify", identity: next });
    }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
