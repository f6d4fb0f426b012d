// The dashboard's only way to the server: the session in localStorage, JSON calls with a fresh
// access token, uploads with progress, downloads, and server-sent event streams read with fetch.

// Shared with the /preview page, which reads the same key and shape:
// {"access_token", "refresh_token", "expires_at" (ms epoch)}.
export const SESSION_KEY = "cortex.session";
// Refresh this long before the access token expires, so a call in flight never carries a dead one.
const REFRESH_MARGIN_MS = 60_000;
// One refresh at a time across every tab and frame of this origin: the server revokes a whole
// session when a spent refresh token is presented again, so two concurrent refreshes would log out.
const REFRESH_LOCK = "cortex.session.refresh";

/** An error from the API (its JSON envelope), or from not reaching it at all. */
export class ApiError extends Error {
  constructor(status, { code = "error", message = "", request_id = null, details = null } = {}) {
    super(message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = code;
    this.requestId = request_id;
    this.details = Array.isArray(details) ? details : null;
  }
}

// -- session ----------------------------------------------------------------------------------

export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    return session && session.access_token && session.refresh_token ? session : null;
  } catch {
    return null;
  }
}

/** Store a token pair as the session (expires_in in seconds, as the API gives it). */
export function saveTokens({ access_token, refresh_token, expires_in }) {
  const session = { access_token, refresh_token, expires_at: Date.now() + Number(expires_in) * 1000 };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

/**
 * Finish an OIDC login: trade the callback's one-time code for the token pair and keep it as the
 * session. The server gives the pair only once, and only to this browser (its OIDC cookie, which
 * fetch sends on same-origin requests); anything else throws ApiError(401).
 */
export async function exchangeLoginCode(code) {
  return saveTokens(await api("POST", "/api/auth/oidc/exchange", { body: { code }, auth: false }));
}

let onSignedOut = () => {};
/** Called (once per expiry) when the session cannot be refreshed; the app sends the user to log in. */
export function setSignedOutHandler(handler) {
  onSignedOut = handler;
}

let refreshing = null;

/** A fresh session, refreshing it if `force` or near expiry; throws ApiError(401) when that fails. */
export async function freshSession({ force = false } = {}) {
  const session = loadSession();
  if (!session) {
    const error = signedOut("You are signed out; log in again.");
    onSignedOut(error);
    throw error;
  }
  if (!force && session.expires_at - Date.now() > REFRESH_MARGIN_MS) return session;
  if (!refreshing) {
    const stale = session.refresh_token;
    const run = () => rotate(stale, force);
    refreshing = (navigator.locks ? navigator.locks.request(REFRESH_LOCK, run) : run()).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function rotate(staleRefreshToken, force) {
  const current = loadSession();
  if (!current) throw signedOut("not signed in");
  // Another tab or the preview frame may have rotated while we waited for the lock: use theirs.
  const rotatedElsewhere = current.refresh_token !== staleRefreshToken;
  if (rotatedElsewhere && current.expires_at - Date.now() > REFRESH_MARGIN_MS) return current;
  if (!force && current.expires_at - Date.now() > REFRESH_MARGIN_MS) return current;
  let response;
  try {
    response = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
  } catch (error) {
    throw networkError(error); // offline is not a logout: keep the session and let the caller retry
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 || response.status === 422) {
      clearSession();
      onSignedOut(error);
    }
    throw error;
  }
  return saveTokens(await response.json());
}

function signedOut(message) {
  return new ApiError(401, { code: "unauthorized", message });
}

function networkError(error) {
  return new ApiError(0, { code: "network_error", message: `Could not reach the server (${error.message || error}).` });
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page or an empty body
  }
  if (body && body.error && typeof body.error === "object") return new ApiError(response.status, body.error);
  return new ApiError(response.status, {
    code: `http_${response.status}`,
    message: `The server answered ${response.status} ${response.statusText || ""}`.trim(),
  });
}

// -- requests ---------------------------------------------------------------------------------

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

/**
 * Call the API. `body` is sent as JSON (or as-is when FormData); `query` becomes the query string.
 * Resolves to the parsed JSON (null for 204), or the Response itself with `raw: true`.
 * `auth: false` for the public endpoints (login, register, providers).
 */
export async function api(method, path, { body, query, signal, raw = false, auth = true, headers = {} } = {}) {
  const url = withQuery(path, query);
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response = await send(url, init, auth, false);
  if (response.status === 401 && auth) {
    await freshSession({ force: true });
    response = await send(url, init, auth, false);
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

async function send(url, init, auth, force) {
  if (auth) {
    const session = await freshSession({ force });
    init.headers.Authorization = `Bearer ${session.access_token}`;
  }
  try {
    return await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw networkError(error);
  }
}

export const get = (path, options) => api("GET", path, options);
export const post = (path, body, options = {}) => api("POST", path, { ...options, body });
export const patch = (path, body, options = {}) => api("PATCH", path, { ...options, body });
export const del = (path, options) => api("DELETE", path, options);

/** True for the AbortError a page's signal raises when the user navigates away. */
export function isAbort(error) {
  return error && error.name === "AbortError";
}

// -- uploads with progress ---------------------------------------------------------------------

/**
 * POST a FormData with XMLHttpRequest so the upload's progress can be shown.
 * `onProgress(fraction)` gets 0…1. Retries once after a 401 with a refreshed token.
 */
export async function upload(path, form, { onProgress = () => {}, signal } = {}) {
  let result = await xhrPost(path, form, (await freshSession()).access_token, onProgress, signal);
  if (result.status === 401) {
    onProgress(0);
    result = await xhrPost(path, form, (await freshSession({ force: true })).access_token, onProgress, signal);
  }
  let body = null;
  try {
    body = result.text ? JSON.parse(result.text) : null;
  } catch {
    body = null;
  }
  if (result.status >= 200 && result.status < 300) return body;
  if (body && body.error) throw new ApiError(result.status, body.error);
  throw new ApiError(result.status, { code: `http_${result.status}`, message: `The server answered ${result.status}` });
}

function xhrPost(path, form, token, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(networkError(new Error("upload failed")));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

// -- downloads ---------------------------------------------------------------------------------

/** Fetch a file with the session's token and hand it to the browser as a download. */
export async function download(path, { query, filename, signal } = {}) {
  const response = await api("GET", path, { query, signal, raw: true, headers: { Accept: "*/*" } });
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename || (named ? named[1] : "download");
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// -- server-sent events -------------------------------------------------------------------------

/**
 * Follow a server-sent event stream that needs the Authorization header (EventSource cannot send
 * it). Reconnects when the stream ends or drops, resuming with `Last-Event-ID`.
 *
 * Callbacks: onEvent({event, data, id}), onState("open" | "reconnecting" | "closed", error?).
 * Returns when `signal` aborts, or after a 4xx other than 401 (reported through onState).
 */
export async function followStream(path, { lastEventId = null, onEvent, onState = () => {}, signal }) {
  let retryMs = 1000;
  let failures = 0;
  let lastId = lastEventId;
  while (!signal.aborted) {
    let stop = false;
    try {
      const headers = { Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await api("GET", path, { raw: true, signal, headers });
      onState("open");
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message = parseEvent(block);
          if (!message) continue;
          if (message.retry) retryMs = message.retry;
          if (message.id) lastId = message.id;
          if (message.event === "deleted") stop = true;
          if (message.data !== null) onEvent(message);
        }
      }
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        onState("closed", error);
        return;
      }
      failures += 1;
      onState("reconnecting", error);
    }
    if (stop) {
      onState("closed");
      return;
    }
    // A clean end is normal (the server closes streams after ~100 s); failures back off to 15 s.
    const wait = failures ? Math.min(15_000, retryMs * 2 ** (failures - 1)) : retryMs;
    if (failures === 0) onState("reconnecting");
    await sleep(wait, signal);
  }
}

function parseEvent(block) {
  const message = { event: "message", data: null, id: null, retry: null };
  const data = [];
  let any = false;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    any = true;
    if (field === "event") message.event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") message.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
  }
  if (!any) return null;
  if (data.length) {
    const text = data.join("\n");
    try {
      message.data = JSON.parse(text);
    } catch {
      message.data = text;
    }
  }
  return message;
}

/** Resolve after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
