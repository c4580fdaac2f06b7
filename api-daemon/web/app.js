// SMS Bridge admin UI. Plain JS, no dependencies, served by sms-bridge-api from the binary.
//
// Rules this file keeps:
//  - No server-provided string is ever parsed as HTML: everything goes through textContent or
//    DOM APIs (el(), text()). The page's Content-Security-Policy forbids inline script anyway.
//  - Every state-changing request carries the session's CSRF token (X-CSRF-Token); a 401 from any
//    call means the session ended, and the login form comes back, unless it asks for a one-time
//    code (otp_required): then the OTP dialog asks for one and the request is made again.
//  - One timer for the whole page (tick(), once a second): it redraws the countdowns from the UTC
//    deadlines and refreshes the shown page every REFRESH_SECONDS. Nothing else schedules work.
"use strict";

const REFRESH_SECONDS = 10;
// Marks our calls, so a 401 comes without a Basic challenge (no browser password dialog).
const UI_HEADER = { "X-Requested-With": "sms-bridge-admin-ui" };
const MINUTE_CHOICES = [15, 30, 60, 120, 240];

const session = { user: "", csrf: "", address: "" };
let currentPage = "doors";
let secondsSinceRefresh = 0;
let refreshing = false;
let doorsOpen = [];           // services with an open door, from the last refresh
const deadlines = new Map();  // service -> Date of its deadline, for the countdowns
// service -> {at: Date, drift, repaired}: the kernel's own deadline (now + its remaining timeout
// when the helper read it), counted down like the deadline.
const kernelDeadlines = new Map();

// ---- small DOM helpers ----------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && k !== "list") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function text(node, value) {
  node.textContent = value == null ? "" : String(value);
}

function fillMinutes(select) {
  select.replaceChildren(...MINUTE_CHOICES.map((m) => el("option", { value: String(m) }, m < 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? "s" : ""}`)));
  select.value = "60";
}

// Local time of a UTC instant, e.g. "14:05:09" today or "27 Nov, 14:05" another day.
function localTime(date) {
  if (!(date instanceof Date) || isNaN(date)) return "—";
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function parseInstant(iso) {
  // The API sends UTC instants ("...Z"); Date parses them as UTC, and we display local time.
  const d = new Date(iso);
  return isNaN(d) ? null : d;
}

function countdown(deadline) {
  const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
  if (left === 0) return "closing…";
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  return (h ? `${h} h ` : "") + `${m} min ${String(s).padStart(2, "0")} s`;
}

function banner(message, bad = false) {
  const b = $("banner");
  text(b, message);
  b.classList.toggle("bad", bad);
  b.hidden = !message;
}

// ---- the API ----------------------------------------------------------------------------------

class SessionEnded extends Error {}

// Calls the API; returns {status, body}. 401 anywhere: back to the login form.
async function api(method, path, body) {
  const headers = { Accept: "application/json", ...UI_HEADER };
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { status: 0, body: { detail: "The server cannot be reached; check the connection." } };
  }
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("json") ? await response.json().catch(() => ({})) : await response.text();
  // A 401 that asks for a one-time code is not the end of the session: the caller asks for one.
  if (response.status === 401 && path !== "/admin/login" && !(payload && payload.otp_required === true)) {
    showLogin("Your session has ended; log in again.");
    throw new SessionEnded();
  }
  return { status: response.status, body: payload, headers: response.headers };
}

// Asks for a one-time code in the dialog; resolves to the code, or "" when cancelled.
function askOtp(message, error) {
  const dialog = $("otp-dialog");
  text($("otp-message"), message);
  text($("otp-error"), error || "");
  $("otp-code").value = "";
  return new Promise((resolve) => {
    const done = (code) => {
      $("otp-form").onsubmit = null;
      $("otp-cancel").onclick = null;
      dialog.close();
      resolve(code);
    };
    $("otp-form").onsubmit = (event) => {
      event.preventDefault();
      const code = $("otp-code").value.trim();
      if (!code) return text($("otp-error"), "Enter the code.");
      done(code);
    };
    $("otp-cancel").onclick = () => done("");
    dialog.showModal();
    $("otp-code").focus();
  });
}

// A request that opens a door: when the server asks for a fresh one-time code (the session's
// last is older than SMS_BRIDGE_OTP_STEP_UP_MINUTES), asks for it and sends the request again
// with it, until it is accepted or the admin cancels.
async function withStepUp(method, path, body) {
  let r = await api(method, path, body);
  let error = "";
  while (r.status === 401 && r.body && r.body.otp_required === true) {
    const code = await askOtp(detailOf(r), error);
    if (!code) return { status: 0, body: { detail: "Cancelled: the door needs a one-time code to open." } };
    r = await api(method, path, { ...body, otp: code });
    error = "That code was not accepted; wait for the next one, or use a recovery code.";
  }
  return r;
}

// The sentence of an error answer: its detail, whatever its shape.
function detailOf(result) {
  const d = result.body && result.body.detail;
  if (typeof d === "string") return d;
  if (d && typeof d === "object") return d.error || d.message || JSON.stringify(d);
  return `The server answered ${result.status}.`;
}

// ---- login and logout -------------------------------------------------------------------------

function showLogin(message) {
  session.user = session.csrf = "";
  $("app-view").hidden = true;
  $("who").hidden = true;
  $("login-view").hidden = false;
  text($("login-error"), message || "");
  $("login-password").value = "";
  $("login-user").focus();
}

async function showApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("who").hidden = false;
  text($("who-name"), session.user);
  await showPage(pageFromHash());
}

async function restoreSession() {
  const r = await fetch("/admin/session", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json", ...UI_HEADER } })
    .catch(() => null);
  if (!r || r.status !== 200) return showLogin("");
  const body = await r.json();
  Object.assign(session, { user: body.username, csrf: body.csrf_token || "", address: body.client_address || "" });
  if (!session.csrf) return showLogin("");  // HTTP Basic in this browser: ask for a real session
  await showApp();
}

async function login(event) {
  event.preventDefault();
  const user = $("login-user").value.trim(), password = $("login-password").value;
  const otp = $("login-otp").value.trim();
  if (!user || !password) return text($("login-error"), "Enter your user name and password.");
  $("login-submit").disabled = true;
  try {
    const r = await api("POST", "/admin/login", otp ? { username: user, password, otp } : { username: user, password });
    $("login-otp").value = "";
    if (r.status === 401 && r.body && r.body.otp_required === true) {
      // This admin has a second factor: the code field appears and is asked for.
      $("login-otp-row").hidden = false;
      text($("login-error"), detailOf(r));
      $("login-otp").focus();
    } else if (r.status === 200) {
      Object.assign(session, { user: r.body.username, csrf: r.body.csrf_token });
      text($("login-error"), "");
      await restoreSession();  // also learns the address the server sees us at
    } else if (r.status === 429) {
      const wait = Number(r.headers && r.headers.get("Retry-After")) || 0;
      text($("login-error"), `${detailOf(r)}${wait ? ` You can try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? "s" : ""}.` : ""}`);
    } else {
      text($("login-error"), detailOf(r));
    }
  } finally {
    $("login-submit").disabled = false;
  }
}

async function logout() {
  try {
    await api("POST", "/admin/logout");
  } catch (e) { /* already logged out */ }
  showLogin("You are logged out.");
}

// ---- pages ------------------------------------------------------------------------------------

const PAGES = { doors: refreshDoors, config: refreshConfig, history: refreshHistory, logs: refreshLogs, export: async () => {},
                notifications: refreshNotifications };

function pageFromHash() {
  const name = location.hash.replace(/^#/, "");
  return name in PAGES ? name : "doors";
}

async function showPage(name) {
  currentPage = name;
  for (const p of Object.keys(PAGES)) $(`page-${p}`).hidden = p !== name;
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  banner("");
  await refresh();
}

// Refreshes health and the shown page; never two at once.
async function refresh() {
  if (refreshing || $("app-view").hidden) return;
  refreshing = true;
  secondsSinceRefresh = 0;
  try {
    await Promise.all([refreshHealth(), PAGES[currentPage]()]);
  } catch (e) {
    if (!(e instanceof SessionEnded)) banner(`Could not refresh: ${e.message}`, true);
  } finally {
    refreshing = false;
  }
}

async function refreshHealth() {
  const r = await fetch("/health", { cache: "no-store" }).then((x) => x.json()).catch(() => null);
  for (const li of document.querySelectorAll("#health li")) {
    const value = r && r.checks ? r.checks[li.dataset.check] : undefined;
    const b = li.querySelector("b");
    text(b, value || "unknown");
    b.className = value === "up" || value === "ok" ? "up" : !value || value === "unknown" ? "unknown" : "down";
  }
}

// ---- doors ------------------------------------------------------------------------------------

const cards = new Map();  // service -> card element (kept across refreshes, so inputs survive)

function makeCard(service) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.service = service;
  const id = `door-${service}`;
  card.querySelector(".door-minutes-label").htmlFor = `${id}-minutes`;
  card.querySelector(".door-minutes").id = `${id}-minutes`;
  card.querySelector(".door-source-label").htmlFor = `${id}-source`;
  card.querySelector(".door-source-input").id = `${id}-source`;
  card.querySelector(".door-extend-label").htmlFor = `${id}-extend-minutes`;
  card.querySelector(".door-extend-minutes").id = `${id}-extend-minutes`;
  fillMinutes(card.querySelector(".door-minutes"));
  fillMinutes(card.querySelector(".door-extend-minutes"));
  card.querySelector(".door-open").addEventListener("submit", (e) => { e.preventDefault(); openDoor(service, card); });
  card.querySelector(".door-extend").addEventListener("submit", (e) => { e.preventDefault(); extendDoor(service, card); });
  for (const plus of card.querySelectorAll(".door-plus")) {
    plus.setAttribute("aria-label", `Add ${plus.dataset.minutes} minutes to the ${service} door`);
    plus.addEventListener("click", () => extendDoor(service, card, Number(plus.dataset.minutes)));
  }
  card.querySelector(".door-close-button").addEventListener("click", () => askConfirm(card, true));
  card.querySelector(".door-confirm-no").addEventListener("click", () => askConfirm(card, false));
  card.querySelector(".door-confirm-yes").addEventListener("click", () => closeDoor(service, card));
  return card;
}

function askConfirm(card, asking) {
  card.querySelector(".door-confirm").hidden = !asking;
  card.querySelector(".door-close").hidden = asking;
  text(card.querySelector(".confirm-text"), `Close the ${card.dataset.service} door now?`);
  if (asking) card.querySelector(".door-confirm-no").focus();
}

// "12 min 03 s", or why the kernel's time is not shown, plus a drift note.
function kernelText(service) {
  const k = kernelDeadlines.get(service);
  if (!k) return "—";
  if (!k.at) return "not read";
  let out = countdown(k.at);
  if (k.drift) out += " (differs from the deadline: being repaired)";
  else if (k.repaired) out += ` (repaired at ${localTime(k.repaired)})`;
  return out;
}

function drawCard(card, s, active) {
  const open = s.status === "open";
  text(card.querySelector(".door-name"), s.service);
  const badge = card.querySelector(".badge");
  text(badge, !s.enabled ? "DISABLED" : open ? "OPEN" : s.status === "unknown" ? "UNKNOWN" : "CLOSED");
  badge.className = `badge ${!s.enabled ? "disabled" : open ? "open" : ""}`;
  text(card.querySelector(".door-description"), s.description || "Monitoring service");
  text(card.querySelector(".door-port"), s.port);
  text(card.querySelector(".door-source"), open ? s.source : "—");
  text(card.querySelector(".door-by"), open ? s.opened_by : "—");
  const deadline = open ? parseInstant(s.expires_at) : null;
  if (deadline) deadlines.set(s.service, deadline); else deadlines.delete(s.service);
  text(card.querySelector(".door-until"), deadline ? localTime(deadline) : "—");
  text(card.querySelector(".door-left"), deadline ? countdown(deadline) : "—");
  if (open) {
    const seconds = s.kernel_expires_in_seconds;
    kernelDeadlines.set(s.service, {
      at: typeof seconds === "number" ? new Date(Date.now() + seconds * 1000) : null,
      drift: active ? active.kernel_drift === true : false,
      repaired: active && active.drift_repaired_at ? parseInstant(active.drift_repaired_at) : null,
    });
  } else {
    kernelDeadlines.delete(s.service);
  }
  const kernel = card.querySelector(".door-kernel-left");
  text(kernel, kernelText(s.service));
  kernel.classList.toggle("drift", open && Boolean(kernelDeadlines.get(s.service)?.drift));
  text(card.querySelector(".door-reason-shown"), open ? (active && active.reason) || "—" : "—");
  card.querySelector(".door-open").hidden = open || !s.enabled;
  card.querySelector(".door-extend").hidden = !open;
  if (!open) askConfirm(card, false);  // a door that closed meanwhile drops a pending confirmation
  card.querySelector(".door-close").hidden = !open || !card.querySelector(".door-confirm").hidden;
  const input = card.querySelector(".door-source-input");
  input.placeholder = session.address ? `my address (${session.address})` : "my address";
}

async function refreshDoors() {
  const r = await api("GET", "/admin/monitoring/services");
  if (r.status !== 200) return banner(detailOf(r), true);
  const box = $("cards");
  const seen = new Set();
  doorsOpen = [];
  // services maps each name to its door, as the original's GET /services did.
  for (const [name, door] of Object.entries(r.body.services)) {
    const s = { ...door, service: name };
    seen.add(s.service);
    if (s.status === "open") doorsOpen.push(s.service);
    let card = cards.get(s.service);
    if (!card) {
      card = makeCard(s.service);
      cards.set(s.service, card);
      box.append(card);
    }
    drawCard(card, s, (r.body.active_ports || {})[name]);
  }
  for (const [name, card] of cards) {
    if (!seen.has(name)) { card.remove(); cards.delete(name); deadlines.delete(name); kernelDeadlines.delete(name); }
  }
  if (r.body.firewall_helper === "down") banner("The firewall helper is not reachable: doors cannot be opened or closed now.", true);
}

// The shared reason field's text, added to a request body when it is not blank.
function withReason(body) {
  const reason = $("door-reason").value.trim();
  if (reason) body.reason = reason;
  return body;
}

async function openDoor(service, card) {
  const minutes = Number(card.querySelector(".door-minutes").value);
  const source = card.querySelector(".door-source-input").value.trim();
  const body = withReason({ service, duration_minutes: minutes });
  if (source) body.source = source;
  const button = card.querySelector(".door-open-button");
  button.disabled = true;
  text(card.querySelector(".door-error"), "");
  try {
    const r = await withStepUp("POST", "/admin/monitoring/open-port", body);
    if (r.status === 200) banner(r.body.status === "already_open" ? `The ${service} door was already open.` : `Opened the ${service} door for ${minutes} minutes.`);
    else text(card.querySelector(".door-error"), detailOf(r));
  } finally {
    button.disabled = false;
  }
  await refresh();
}

// A new time from now: the "Close in" choice, or (addMinutes) the time left plus that much.
async function extendDoor(service, card, addMinutes) {
  const deadline = deadlines.get(service);
  const body = addMinutes && deadline
    ? { service, duration_seconds: Math.max(0, Math.round((deadline - Date.now()) / 1000)) + addMinutes * 60 }
    : { service, duration_minutes: Number(card.querySelector(".door-extend-minutes").value) };
  const buttons = card.querySelectorAll(".door-extend button");
  for (const b of buttons) b.disabled = true;
  text(card.querySelector(".door-error"), "");
  try {
    const r = await withStepUp("POST", "/admin/monitoring/extend-port", withReason(body));
    if (r.status === 200) banner(`The ${service} door now closes at ${localTime(parseInstant(r.body.expires_at))} (was ${localTime(parseInstant(r.body.previous_expires_at))}).`);
    else text(card.querySelector(".door-error"), detailOf(r));
  } finally {
    for (const b of buttons) b.disabled = false;
  }
  await refresh();
}

async function closeDoor(service, card) {
  askConfirm(card, false);
  text(card.querySelector(".door-error"), "");
  const r = await api("POST", "/admin/monitoring/close-port", { service });
  if (r.status === 200) banner(`Closed the ${service} door.`);
  else text(card.querySelector(".door-error"), detailOf(r));
  await refresh();
}

async function openAll(event) {
  event.preventDefault();
  const minutes = Number($("all-minutes").value);
  const r = await withStepUp("POST", "/admin/monitoring/open-all", withReason({ duration_minutes: minutes }));
  if (r.status !== 200) banner(detailOf(r), true);
  else {
    const failed = Object.entries(r.body.results || {}).filter(([, v]) => v.status === "error").map(([k, v]) => `${k}: ${v.error}`);
    banner(failed.length ? `Some doors did not open — ${failed.join("; ")}` : `Opened every enabled door for ${minutes} minutes.`, failed.length > 0);
  }
  await refresh();
}

let closeAllArmed = false;
async function closeAll() {
  const button = $("close-all");
  if (!closeAllArmed) {  // the first click asks, the second (within the same refresh) confirms
    closeAllArmed = true;
    text(button, "Confirm: close every door");
    return;
  }
  closeAllArmed = false;
  text(button, "Close all");
  const r = await api("POST", "/admin/monitoring/close-all");
  const closed = r.status === 200 ? r.body.closed.length : 0;  // closed lists the doors' names
  banner(r.status === 200 ? `Closed ${closed} door${closed === 1 ? "" : "s"}.` : detailOf(r), r.status !== 200);
  await refresh();
}

// ---- port configuration -----------------------------------------------------------------------

async function refreshConfig() {
  const config = await api("GET", "/admin/monitoring/port-config");
  if (config.status !== 200) return banner(detailOf(config), true);
  doorsOpen = config.body.active_ports;
  const locked = doorsOpen.length > 0;
  const lock = $("config-lock");
  text(lock, locked ? `Editing is disabled while doors are open (${doorsOpen.join(", ")}). Close them on the Monitoring doors page first.` : "");
  lock.hidden = !locked;
  const form = $("config-form");
  const editing = form.contains(document.activeElement) && !locked;
  if (!editing) drawConfigRows(config.body.current_config);
  for (const control of form.querySelectorAll("input, button")) control.disabled = locked;
}

function drawConfigRows(config) {
  const rows = Object.entries(config).map(([name, door]) => {
    const id = `config-${name}`;
    const port = el("input", { type: "number", id: `${id}-port`, min: "1024", max: "65535", value: String(door.port), required: true });
    port.dataset.service = name;
    port.setAttribute("aria-describedby", `${id}-error`);
    const enabled = el("input", { type: "checkbox", id: `${id}-enabled`, checked: Boolean(door.enabled) });
    const error = el("p", { className: "error", id: `${id}-error`, role: "alert" });
    const row = el("tr", { dataset: { service: name } },
      el("th", { scope: "row" }, name),
      el("td", { dataset: { label: "External port" } }, port, error),
      el("td", { dataset: { label: "Enabled" } }, el("label", { className: "check" }, enabled, "enabled")),
      el("td", { dataset: { label: "Description" } }, door.description || ""));
    port.setAttribute("aria-label", `${name} external port`);
    row.dataset.description = door.description || "";
    return row;
  });
  $("config-rows").replaceChildren(...rows);
}

function clearConfigErrors() {
  text($("config-error"), "");
  for (const e of document.querySelectorAll("#config-rows .error")) text(e, "");
}

async function saveConfig(event) {
  event.preventDefault();
  clearConfigErrors();
  const config = {};
  for (const row of $("config-rows").children) {
    const name = row.dataset.service;
    config[name] = { port: Number(row.querySelector('input[type="number"]').value), enabled: row.querySelector('input[type="checkbox"]').checked,
                     description: row.dataset.description };
  }
  const r = await api("POST", "/admin/monitoring/port-config", { config });
  if (r.status === 200) {
    banner("Saved the port configuration.");
    drawConfigRows(r.body.config);
  } else {
    showConfigError(r);
  }
  await refreshConfig();
}

// An error the API ties to a field ("field": "metrics.port") goes next to that field.
function showConfigError(r) {
  const field = r.body && r.body.field;
  const target = field ? $(`config-${field.split(".")[0]}-error`) : null;
  text(target || $("config-error"), detailOf(r));
  if (target) $(`config-${field.split(".")[0]}-port`).focus();
}

async function resetConfig() {
  clearConfigErrors();
  const r = await api("POST", "/admin/monitoring/port-config/reset");
  if (r.status === 200) { banner("The port configuration is back to its defaults."); drawConfigRows(r.body.config); }
  else showConfigError(r);
  await refreshConfig();
}

async function findPorts(event) {
  event.preventDefault();
  const q = new URLSearchParams({ start: $("finder-start").value, end: $("finder-end").value, count: $("finder-count").value });
  const r = await api("GET", `/admin/monitoring/port-config/available-ports?${q}`);
  text($("finder-result"), r.status === 200
    ? (r.body.available_ports.length ? `Free: ${r.body.available_ports.join(", ")}` : "No free port in that range.")
    : detailOf(r));
}

// ---- audit history ----------------------------------------------------------------------------

async function refreshHistory() {
  const q = new URLSearchParams({ limit: "200" });
  if ($("history-service").value) q.set("service", $("history-service").value);
  if ($("history-action").value) q.set("action", $("history-action").value);
  const [r, services] = await Promise.all([api("GET", `/admin/monitoring/audit?${q}`), api("GET", "/admin/monitoring/services")]);
  if (r.status !== 200) return banner(detailOf(r), true);
  if (services.status === 200) {
    const select = $("history-service");
    const names = Object.keys(services.body.services);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (names.join() !== have.join()) {
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "" }, "all"), ...names.map((n) => el("option", { value: n }, n)));
      select.value = names.includes(chosen) ? chosen : "";
    }
  }
  $("history-rows").replaceChildren(...r.body.events.map((e) =>
    el("tr", {},
      el("td", { dataset: { label: "Time" } }, localTime(parseInstant(e.at))),
      el("td", { dataset: { label: "Service" } }, e.service),
      el("td", { dataset: { label: "Action" } }, e.action),
      el("td", { dataset: { label: "By" } }, e.by || ""),
      el("td", { dataset: { label: "Source" } }, e.source || ""),
      el("td", { dataset: { label: "Reason" } }, e.reason || ""),
      el("td", { dataset: { label: "Closes at" } },
        e.action === "opened" || e.action === "extended" ? localTime(parseInstant(e.expires_at)) : ""))));
  if (r.body.events.length === 0) $("history-rows").append(el("tr", {}, el("td", { colSpan: 7 }, "Nothing recorded yet.")));
}

// ---- logs -------------------------------------------------------------------------------------

async function refreshLogs() {
  const r = await api("GET", "/admin/monitoring/logs/list");
  if (r.status !== 200) return banner(detailOf(r), true);
  $("log-rows").replaceChildren(...r.body.files.map((f) => {
    const href = `/admin/monitoring/logs/download/${encodeURIComponent(f.name)}`;
    const tail = el("button", { type: "button", className: "secondary" }, "Tail");
    tail.setAttribute("aria-label", `Tail ${f.name}`);
    tail.addEventListener("click", () => tailLog(f.name));
    return el("tr", {},
      el("td", { dataset: { label: "File" } }, f.name),
      el("td", { dataset: { label: "Size" } }, `${(f.bytes / 1024).toFixed(1)} KiB`),
      el("td", { dataset: { label: "Modified" } }, localTime(parseInstant(f.modified_at))),
      el("td", { dataset: { label: "Actions" } }, el("a", { href, download: f.name, className: "button secondary" }, "Download"), " ", tail));
  }));
}

async function tailLog(name) {
  const lines = Math.min(10000, Math.max(1, Number($("tail-lines").value) || 100));
  const r = await api("GET", `/admin/monitoring/logs/download/${encodeURIComponent(name)}?tail=${lines}`);
  text($("log-tail"), r.status === 200 ? r.body : detailOf(r));
}

// ---- notifications ----------------------------------------------------------------------------

const EVENT_LABELS = { opened: "opened", extended: "extended or shortened", closed: "closed", expired: "expired",
                       expired_while_down: "expired while the helper was down", drift_repaired: "drift repaired",
                       drift_closed: "drift closed", close_failed: "a close failed", closes_soon: "closes soon (reminder)" };
let notificationsEdited = false;  // the form has changes not saved: a refresh leaves it alone

async function refreshNotifications() {
  const r = await api("GET", "/admin/notifications");
  if (r.status !== 200) return banner(detailOf(r), true);
  if (!notificationsEdited) drawNotifications(r.body);
}

function drawNotifications(answer) {
  const n = answer.notifications;
  $("notify-webhook-url").value = n.webhook_url;
  $("notify-webhook-secret").value = "";
  text($("notify-secret-state"), n.webhook_secret_set ? "A secret is set; leave this empty to keep it." : "No secret is set.");
  $("notify-ntfy-url").value = n.ntfy_url;
  $("notify-ca-file").value = n.ca_file;
  $("notify-remind").value = String(n.remind_before_close_minutes);
  const boxes = answer.available_events.map((name) => {
    const box = el("input", { type: "checkbox", id: `notify-event-${name}`, checked: n.events.includes(name) });
    box.dataset.event = name;
    return el("label", { className: "check" }, box, EVENT_LABELS[name] || name);
  });
  $("notify-events").replaceChildren(el("legend", {}, "Events"), ...boxes);
  notificationsEdited = false;
}

async function saveNotifications(event) {
  event.preventDefault();
  text($("notifications-error"), "");
  const notifications = {
    webhook_url: $("notify-webhook-url").value.trim(),
    ntfy_url: $("notify-ntfy-url").value.trim(),
    ca_file: $("notify-ca-file").value.trim(),
    remind_before_close_minutes: Number($("notify-remind").value),
    events: [...document.querySelectorAll("#notify-events input:checked")].map((b) => b.dataset.event),
  };
  const secret = $("notify-webhook-secret").value;
  if (secret !== "") notifications.webhook_secret = secret;
  if (notifications.webhook_url === "" && secret === "") notifications.webhook_secret = "";  // no webhook, no secret kept
  const r = await api("POST", "/admin/notifications", { notifications });
  if (r.status === 200) {
    drawNotifications(r.body);
    banner("Saved the notification settings.");
  } else {
    text($("notifications-error"), detailOf(r));
  }
}

async function testNotifications() {
  text($("notifications-error"), "");
  const r = await api("POST", "/admin/notifications/test");
  if (r.status === 202) banner(`A test notification is on its way (${r.body.channels.join(", ")}).`);
  else text($("notifications-error"), detailOf(r));
}

// ---- the one timer ----------------------------------------------------------------------------

function tick() {
  for (const [service, deadline] of deadlines) {
    const card = cards.get(service);
    if (card) text(card.querySelector(".door-left"), countdown(deadline));
  }
  for (const service of kernelDeadlines.keys()) {
    const card = cards.get(service);
    if (card) text(card.querySelector(".door-kernel-left"), kernelText(service));
  }
  secondsSinceRefresh += 1;
  if (secondsSinceRefresh >= REFRESH_SECONDS && !document.hidden) refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  fillMinutes($("all-minutes"));
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("all-form").addEventListener("submit", openAll);
  $("close-all").addEventListener("click", closeAll);
  $("config-form").addEventListener("submit", saveConfig);
  $("config-reset").addEventListener("click", resetConfig);
  $("finder-form").addEventListener("submit", findPorts);
  $("history-service").addEventListener("change", refresh);
  $("history-action").addEventListener("change", refresh);
  $("tail-form").addEventListener("submit", (e) => e.preventDefault());
  $("notifications-form").addEventListener("submit", saveNotifications);
  $("notifications-form").addEventListener("input", () => { notificationsEdited = true; });
  $("notifications-test").addEventListener("click", testNotifications);
  window.addEventListener("hashchange", () => { if (!$("app-view").hidden) showPage(pageFromHash()); });
  window.addEventListener("unhandledrejection", (e) => { if (e.reason instanceof SessionEnded) e.preventDefault(); });
  setInterval(tick, 1000);
  restoreSession();
});
