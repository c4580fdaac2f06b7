// Drives the admin UI in Debian's headless Chromium the way an operator uses it.
// Run by tests/integration/admin_ui_test.py, which starts the server (PostgreSQL, the helper and
// sms-bridge-api in a network namespace) and runs this inside the "laptop" namespace.
//
//   node admin_ui.mjs SCENARIO     (workflow | xss | extend | totp | notifications)
//   env: BASE_URL, ADMIN_USER, ADMIN_PASSWORD, LAPTOP_IP, SCREENSHOT_DIR; totp: TOTP_SECRET (base32)
// Exit 0 when every check passed; otherwise prints the failed check and exits 1.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { BASE_URL, ADMIN_USER, ADMIN_PASSWORD, LAPTOP_IP, SCREENSHOT_DIR } = process.env;
const scenario = process.argv[2];
const TIME_ZONE = "Asia/Kolkata";  // UTC+05:30: a local time that cannot be mistaken for UTC

class CheckFailed extends Error {}
const reported = [];  // page errors and console errors, printed when a scenario fails
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

async function waitFor(what, predicate, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(await predicate(), `timed out waiting for ${what}`);
}

const textOf = (page, selector) => page.locator(selector).first().textContent().then((t) => (t || "").trim());
const secondsLeft = (t) => {
  const m = t.match(/(?:(\d+) h )?(\d+) min (\d+) s/);
  return m ? Number(m[1] || 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) : NaN;
};

async function launch() {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: TIME_ZONE, locale: "en-GB" });
  // Count the timers the page creates: the UI promises exactly one.
  await context.addInitScript(() => {
    window.__intervals = 0;
    const original = window.setInterval;
    window.setInterval = (...args) => { window.__intervals += 1; return original(...args); };
  });
  const page = await context.newPage();
  const problems = reported;
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => { if (r.status() === 404) problems.push(`404: ${r.url()}`); });
  page.on("console", (m) => { if (m.type() === "error" && !/status of 40[139]|status of 422|status of 429/.test(m.text())) problems.push(`console: ${m.text()}`); });
  return { browser, context, page, problems };
}

async function login(page, password) {
  await page.locator("#login-user").fill(ADMIN_USER);
  await page.locator("#login-password").fill(password);
  await page.locator("#login-submit").click();
}

// The page's own fetch, with its session cookie and CSRF token: for facts the UI does not show.
async function apiInPage(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const s = await (await fetch("/admin/session", { headers: { "X-Requested-With": "sms-bridge-admin-ui" } })).json();
    const r = await fetch(p, { method: m, headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf_token || "",
                                                       "X-Requested-With": "sms-bridge-admin-ui" },
                               body: b === null ? undefined : JSON.stringify(b) });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [method, path, body === undefined ? null : body]);
}

async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

async function narrow(page, name) {
  await page.setViewportSize({ width: 360, height: 780 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 360, `${name} at 360 px scrolls sideways (${overflow} px wide)`);
  await screenshot(page, `${name}-360`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function workflow() {
  const { browser, context, page, problems } = await launch();
  try {
    const first = await page.goto(`${BASE_URL}/admin`);
    const headers = first.headers();
    check((headers["content-security-policy"] || "").includes("script-src 'self'") &&
          !(headers["content-security-policy"] || "").includes("unsafe"), `CSP: ${headers["content-security-policy"]}`);
    check(headers["x-frame-options"] === "DENY" && headers["cache-control"] === "no-store", `headers: ${JSON.stringify(headers)}`);

    // A wrong password: a sentence, no stack trace.
    await page.locator("#login-view").waitFor();
    await login(page, "not the password");
    await waitFor("the login error", async () => (await textOf(page, "#login-error")) !== "");
    const error = await textOf(page, "#login-error");
    check(error === "Wrong user name or password.", `wrong password shows: ${error}`);
    check(await page.locator("#app-view").isHidden(), "the app opened after a wrong password");

    // The right one, typed with the keyboard alone.
    await page.locator("#login-user").focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(ADMIN_USER);
    await page.keyboard.press("Tab");
    await page.keyboard.type(ADMIN_PASSWORD);
    await page.keyboard.press("Enter");
    await page.locator("#app-view").waitFor();
    check((await textOf(page, "#who-name")) === ADMIN_USER, "the user name is not shown");
    await waitFor("the helper's status", async () => (await textOf(page, '#health li[data-check="firewall_helper"] b')) === "up");
    check((await textOf(page, '#health li[data-check="database"] b')) === "up", "the database is not shown up");

    // Open the metrics door for 15 minutes from "my address".
    const card = page.locator('.door[data-service="metrics"]');
    await card.waitFor();
    check((await card.locator(".badge").textContent()) === "CLOSED", "metrics is not shown closed");
    const placeholder = await card.locator(".door-source-input").getAttribute("placeholder");
    check(placeholder === `my address (${LAPTOP_IP})`, `the default source is not shown: ${placeholder}`);
    check(await page.locator('label[for="door-metrics-minutes"]').count() === 1, "the duration has no label");
    await card.locator(".door-minutes").selectOption("15");
    await card.locator(".door-open-button").click();
    await waitFor("the card to show open", async () => (await card.locator(".badge").textContent()) === "OPEN");
    check((await card.locator(".door-by").textContent()) === ADMIN_USER, "opened by is not the admin");
    check((await card.locator(".door-source").textContent()) === `${LAPTOP_IP}/32`, "the source is not this address");
    const left1 = secondsLeft(await card.locator(".door-left").textContent());
    check(left1 > 14 * 60 && left1 <= 15 * 60, `the countdown starts at ${left1} s`);
    await page.waitForTimeout(2500);
    const left2 = secondsLeft(await card.locator(".door-left").textContent());
    check(left2 < left1 && left2 >= left1 - 4, `the countdown did not go down: ${left1} -> ${left2}`);
    // "Closes at" is the UTC deadline in the browser's zone (Asia/Kolkata), not UTC.
    const services = await apiInPage(page, "GET", "/admin/monitoring/services");
    const expires = services.body.services.metrics.expires_at;
    check(/Z$/.test(expires), `the API's deadline is not UTC: ${expires}`);
    // The card gives the time alone on the same local day and adds the date otherwise
    // (a run near midnight in Kolkata closes the door tomorrow).
    const localDay = (d) => d.toLocaleDateString("en-GB", { timeZone: TIME_ZONE });
    const sameDay = localDay(new Date()) === localDay(new Date(expires));
    const localExpected = sameDay
      ? new Date(expires).toLocaleTimeString("en-GB", { timeZone: TIME_ZONE })
      : new Date(expires).toLocaleString("en-GB", { timeZone: TIME_ZONE, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    const utcShown = sameDay
      ? new Date(expires).toLocaleTimeString("en-GB", { timeZone: "UTC" })
      : new Date(expires).toLocaleString("en-GB", { timeZone: "UTC", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    const shown = await card.locator(".door-until").textContent();
    check(shown === localExpected && shown !== utcShown, `closes at ${shown}; expected ${localExpected} (UTC ${utcShown})`);
    await screenshot(page, "doors-desktop");
    await narrow(page, "doors");

    // The port configuration is locked while the door is open, and says why.
    await page.locator('.tabs a[data-page="config"]').click();
    await waitFor("the lock notice", async () => (await page.locator("#config-lock").isVisible()));
    const lock = await textOf(page, "#config-lock");
    check(lock.includes("Editing is disabled while doors are open (metrics)"), `lock notice: ${lock}`);
    check(await page.locator("#config-metrics-port").isDisabled() && await page.locator("#config-save").isDisabled(),
          "the configuration can be edited while a door is open");

    // Close the door, confirming first.
    await page.locator('.tabs a[data-page="doors"]').click();
    await card.locator(".door-close-button").click();
    check(await card.locator(".door-confirm").isVisible(), "no confirmation was asked");
    check((await card.locator(".badge").textContent()) === "OPEN", "the door closed before confirming");
    await card.locator(".door-confirm-yes").click();
    await waitFor("the card to show closed", async () => (await card.locator(".badge").textContent()) === "CLOSED");

    // The history shows both actions with the admin's name; the filters work.
    await page.locator('.tabs a[data-page="history"]').click();
    await waitFor("two history rows", async () => (await page.locator("#history-rows tr").count()) >= 2);
    const rows = await page.locator("#history-rows tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    check(rows[0][1] === "metrics" && rows[0][2] === "closed" && rows[0][3] === ADMIN_USER, `newest row: ${rows[0]}`);
    check(rows[1][1] === "metrics" && rows[1][2] === "opened" && rows[1][3] === ADMIN_USER && rows[1][4] === `${LAPTOP_IP}/32`,
          `the open row: ${rows[1]}`);
    await page.locator("#history-action").selectOption("closed");
    await waitFor("the action filter", async () => {
      const actions = await page.locator("#history-rows tr td:nth-child(3)").allTextContents();
      return actions.length === 1 && actions[0] === "closed";
    });
    await page.locator("#history-action").selectOption("");
    await page.locator("#history-service").selectOption("postgres");
    await waitFor("the service filter", async () => (await textOf(page, "#history-rows")) === "Nothing recorded yet.");

    // A forbidden port: the helper's refusal next to the field. Then a valid one.
    await page.locator('.tabs a[data-page="config"]').click();
    await waitFor("the configuration unlocked", async () => !(await page.locator("#config-metrics-port").isDisabled()));
    check(await page.locator("#config-lock").isHidden(), "the lock notice stayed");
    await page.locator("#config-metrics-port").fill("8080");
    await page.locator("#config-save").click();
    await waitFor("the field error", async () => (await textOf(page, "#config-metrics-error")) !== "");
    const fieldError = await textOf(page, "#config-metrics-error");
    check(fieldError.includes("8080"), `the error beside the field: ${fieldError}`);
    await page.locator("#config-metrics-port").fill("9101");
    await page.locator("#config-save").click();
    await waitFor("the saved banner", async () => (await textOf(page, "#banner")) === "Saved the port configuration.");
    check((await textOf(page, "#config-metrics-error")) === "", "the old error stayed");
    const saved = await apiInPage(page, "GET", "/admin/monitoring/port-config");
    check(saved.body.current_config.metrics.port === 9101, `the saved port: ${JSON.stringify(saved.body)}`);
    await page.locator("#finder-submit").click();
    await waitFor("free ports", async () => (await textOf(page, "#finder-result")).startsWith("Free:"));
    await screenshot(page, "config-desktop");
    await narrow(page, "config");

    // Logs and the export are links and a tail.
    await page.locator('.tabs a[data-page="logs"]').click();
    await waitFor("the log list", async () => (await page.locator("#log-rows tr").count()) >= 1);
    await page.locator("#log-rows button").first().click();
    await waitFor("the log tail", async () => (await textOf(page, "#log-tail")).includes("listening on"));
    await page.locator('.tabs a[data-page="export"]').click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#export-link").click()]);
    check(download.suggestedFilename() === "prometheus-remote.yml", `the export's name: ${download.suggestedFilename()}`);

    // One timer, however many pages and refreshes were shown.
    await page.waitForTimeout(11000);  // at least one automatic refresh
    check(await page.evaluate(() => window.__intervals) === 1, "the page made more than one timer");

    // An ended session sends the user back to the login form, with a sentence.
    await context.clearCookies();
    await page.locator('.tabs a[data-page="doors"]').click();
    await waitFor("the login form after the session ended", async () => (await page.locator("#login-view").isVisible()));
    check((await textOf(page, "#login-error")) === "Your session has ended; log in again.", "no sentence after the session ended");

    // Log in again and out.
    await login(page, ADMIN_PASSWORD);
    await page.locator("#app-view").waitFor();
    await page.locator("#logout").click();
    await page.locator("#login-view").waitFor();
    check((await textOf(page, "#login-error")) === "You are logged out.", "logout did not say so");
    const after = await page.evaluate(async () => (await fetch("/admin/session", { headers: { "X-Requested-With": "sms-bridge-admin-ui" } })).status);
    check(after === 401, `the session still works after logout: ${after}`);
    check(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

// A door opened with a reason, then given another hour: the card shows the reason, the new deadline
// and the kernel's own time left; the history shows the reasons and the extension.
async function extend() {
  const { browser, page, problems } = await launch();
  try {
    await page.goto(`${BASE_URL}/admin`);
    await page.locator("#login-view").waitFor();
    await login(page, ADMIN_PASSWORD);
    await page.locator("#app-view").waitFor();
    const card = page.locator('.door[data-service="metrics"]');
    await card.waitFor();
    check(await page.locator('label[for="door-reason"]').count() === 1, "the reason field has no label");
    check(await page.locator('label[for="door-metrics-extend-minutes"]').count() === 1, "the new duration has no label");
    check(await card.locator(".door-extend").isHidden(), "a closed door offers to change its time");

    const openReason = "disk alert on sda <b>97%</b>";
    await page.locator("#door-reason").fill(openReason);
    await card.locator(".door-minutes").selectOption("15");
    await card.locator(".door-open-button").click();
    await waitFor("the card to show open", async () => (await card.locator(".badge").textContent()) === "OPEN");
    check((await card.locator(".door-reason-shown").textContent()) === openReason, "the card does not show the open's reason");
    const kernel1 = secondsLeft(await card.locator(".door-kernel-left").textContent());
    check(kernel1 > 14 * 60 && kernel1 <= 15 * 60, `the kernel's time left starts at ${kernel1} s`);
    const until1 = await card.locator(".door-until").textContent();

    // Another hour from now, with its own reason.
    check(await card.locator(".door-extend").isVisible(), "an open door does not offer to change its time");
    const extendReason = "still investigating";
    await page.locator("#door-reason").fill(extendReason);
    await card.locator(".door-extend-minutes").selectOption("60");
    await card.locator(".door-extend-button").click();
    await waitFor("the new deadline on the card", async () => secondsLeft(await card.locator(".door-left").textContent()) > 59 * 60);
    await waitFor("the banner", async () => (await textOf(page, "#banner")).startsWith("The metrics door now closes at"));
    check((await card.locator(".door-until").textContent()) !== until1, "the card's closing time did not change");
    const kernel2 = secondsLeft(await card.locator(".door-kernel-left").textContent());
    check(kernel2 > 59 * 60 && kernel2 <= 60 * 60, `the kernel's time left after the change: ${kernel2} s`);
    const status = await apiInPage(page, "GET", "/admin/monitoring/port-status");
    const kernelApi = status.body.metrics.kernel_expires_in_seconds;
    check(Math.abs(kernelApi - kernel2) <= 2, `the card (${kernel2} s) is not the API's kernel time (${kernelApi} s)`);
    check((await card.locator(".door-reason-shown").textContent()) === openReason, "the open's reason was replaced");

    // Shorter again: 15 minutes from now.
    await card.locator(".door-extend-minutes").selectOption("15");
    await card.locator(".door-extend-button").click();
    await waitFor("the shortened deadline", async () => secondsLeft(await card.locator(".door-left").textContent()) <= 15 * 60);
    // "+1 h": the time left plus an hour (about 75 minutes from now).
    check(await card.locator('.door-plus[data-minutes="60"]').getAttribute("aria-label") === "Add 60 minutes to the metrics door",
          "the +1 h button has no accessible name");
    await card.locator('.door-plus[data-minutes="60"]').click();
    await waitFor("the deadline an hour later", async () => secondsLeft(await card.locator(".door-left").textContent()) > 74 * 60);
    const left = secondsLeft(await card.locator(".door-left").textContent());
    check(left <= 75 * 60, `+1 h gave ${left} s`);
    await screenshot(page, "doors-extend-desktop");
    await narrow(page, "doors-extend");

    // The history: the open with its reason, both changes with theirs.
    await page.locator('.tabs a[data-page="history"]').click();
    await waitFor("four history rows", async () => (await page.locator("#history-rows tr").count()) >= 4);
    const rows = await page.locator("#history-rows tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    check(rows.length === 4, `history rows: ${JSON.stringify(rows)}`);
    check(rows[0][2] === "extended" && rows[0][3] === ADMIN_USER && rows[0][5] === extendReason, `newest row: ${rows[0]}`);
    check(rows[2][2] === "extended" && rows[2][5] === extendReason && rows[2][6] !== "", `the first change: ${rows[2]}`);
    check(rows[3][2] === "opened" && rows[3][5] === openReason, `the open row: ${rows[3]}`);
    await page.locator("#history-action").selectOption("extended");
    await waitFor("the extended filter", async () => {
      const actions = await page.locator("#history-rows tr td:nth-child(3)").allTextContents();
      return actions.length === 3 && actions.every((a) => a === "extended");
    });
    const closed = await apiInPage(page, "POST", "/admin/monitoring/close-port", { service: "metrics" });
    check(closed.status === 200, `close-port: ${closed.status}`);
    check(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

async function xss() {
  const { browser, page, problems } = await launch();
  const payload = '<img src=x onerror="window.__xss=1">';
  try {
    await page.goto(`${BASE_URL}/admin`);
    await login(page, ADMIN_PASSWORD);
    await page.locator("#app-view").waitFor();
    // A description with markup, stored through the API as an admin could.
    const config = (await apiInPage(page, "GET", "/admin/monitoring/port-config")).body.current_config;
    config.metrics.description = payload;
    const saved = await apiInPage(page, "POST", "/admin/monitoring/port-config", { config });
    check(saved.status === 200, `storing the description: ${JSON.stringify(saved)}`);
    await page.reload();
    const card = page.locator('.door[data-service="metrics"]');
    await card.waitFor();
    await waitFor("the description", async () => (await card.locator(".door-description").textContent()) === payload);
    check(await page.locator("img").count() === 0, "an <img> element was created from the description");
    await page.locator('.tabs a[data-page="config"]').click();
    await waitFor("the configuration table", async () => (await page.locator('#config-rows tr[data-service="metrics"] td').last().textContent()) === payload);
    check(await page.locator("img").count() === 0, "the configuration page created an <img>");
    await page.waitForTimeout(500);
    check(await page.evaluate(() => window.__xss) === undefined, "the injected handler ran");

    // Reset to defaults brings the seed's description back.
    await page.locator("#config-reset").click();
    await waitFor("the reset", async () => (await textOf(page, "#banner")) === "The port configuration is back to its defaults.");
    check((await page.locator('#config-rows tr[data-service="metrics"] td').last().textContent()) === "Prometheus metrics endpoint",
          "reset did not restore the description");

    // Open all, then Close all (the second click confirms).
    await page.locator('.tabs a[data-page="doors"]').click();
    await page.locator("#all-minutes").selectOption("30");
    await page.locator("#open-all").click();
    const badges = () => page.locator(".door .badge").allTextContents();
    await waitFor("every enabled door open", async () => (await badges()).filter((b) => b === "OPEN").length === 3);
    check((await badges()).includes("DISABLED"), "the disabled door was opened");
    await page.locator("#close-all").click();
    check((await textOf(page, "#close-all")) === "Confirm: close every door", "Close all did not ask for confirmation");
    check((await badges()).filter((b) => b === "OPEN").length === 3, "Close all acted before confirming");
    await page.locator("#close-all").click();
    await waitFor("every door closed", async () => (await badges()).filter((b) => b === "OPEN").length === 0);
    check((await textOf(page, "#banner")) === "Closed 3 doors.", `close all said: ${await textOf(page, "#banner")}`);

    // Throttling is visible: after five failures from this address, the login form says to wait.
    await page.locator("#logout").click();
    await page.locator("#login-view").waitFor();
    for (let i = 0; i < 6; i += 1) {
      await login(page, `wrong password ${i}`);
      await waitFor("an answer", async () => (await textOf(page, "#login-error")).startsWith("Wrong") ||
                                             (await textOf(page, "#login-error")).startsWith("Too many"));
      if ((await textOf(page, "#login-error")).startsWith("Too many")) break;
      await page.locator("#login-error").evaluate((e) => { e.textContent = ""; });
    }
    const throttled = await textOf(page, "#login-error");
    check(/^Too many failed logins; try again later\. You can try again in \d+ minutes?\.$/.test(throttled), `throttled login shows: ${throttled}`);
    check(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

// The notification settings changed in the UI, saved (as GET /admin/notifications shows, and after a
// reload), a mistake shown as the server's sentence, and the secret never put back in the page.
async function notifications() {
  const { browser, page, problems } = await launch();
  try {
    await page.goto(`${BASE_URL}/admin#notifications`);
    await login(page, ADMIN_PASSWORD);
    await page.locator("#page-notifications").waitFor();
    await waitFor("the event choices", async () => (await page.locator("#notify-events input").count()) === 9);
    check(await page.locator("#notify-event-closes_soon").isChecked(), "the default events do not include closes_soon");
    check((await textOf(page, "#notify-secret-state")) === "No secret is set.", "a fresh install says a secret is set");
    // A webhook without its secret is refused with the server's sentence, and nothing is saved.
    await page.locator("#notify-webhook-url").fill("https://hooks.example.com/doors");
    await page.locator("#notifications-save").click();
    await waitFor("the refusal", async () => (await textOf(page, "#notifications-error")).includes("webhook_secret must be set"));
    check((await apiInPage(page, "GET", "/admin/notifications")).body.notifications.webhook_url === "", "a refused change was saved");
    // The full change.
    await page.locator("#notify-webhook-secret").fill("ui-webhook-secret");
    await page.locator("#notify-ntfy-url").fill("https://ntfy.example.com/doors");
    await page.locator("#notify-remind").fill("10");
    await page.locator("#notify-event-drift_repaired").uncheck();
    await page.locator("#notify-event-opened").uncheck();
    await page.locator("#notifications-save").click();
    await waitFor("the save", async () => (await textOf(page, "#banner")) === "Saved the notification settings.");
    const saved = (await apiInPage(page, "GET", "/admin/notifications")).body.notifications;
    check(saved.webhook_url === "https://hooks.example.com/doors" && saved.ntfy_url === "https://ntfy.example.com/doors"
          && saved.remind_before_close_minutes === 10 && saved.webhook_secret_set === true
          && !saved.events.includes("opened") && !saved.events.includes("drift_repaired") && saved.events.includes("closed"),
          `what the server saved: ${JSON.stringify(saved)}`);
    // After a reload the page shows what was saved, and never the secret.
    await page.reload();
    await page.locator("#page-notifications").waitFor();
    await waitFor("the saved settings", async () => (await page.locator("#notify-remind").inputValue()) === "10");
    check((await page.locator("#notify-webhook-url").inputValue()) === "https://hooks.example.com/doors", "the webhook URL was not shown");
    check((await page.locator("#notify-webhook-secret").inputValue()) === "", "the secret was put back in the page");
    check((await textOf(page, "#notify-secret-state")).startsWith("A secret is set"), "the page does not say a secret is set");
    check(!(await page.locator("#notify-event-opened").isChecked()) && await page.locator("#notify-event-closed").isChecked(),
          "the events shown are not the saved ones");
    check(!(await page.content()).includes("ui-webhook-secret"), "the secret is in the page");
    // A test goes to both channels (queued; the receivers here do not exist).
    await page.locator("#notifications-test").click();
    await waitFor("the test", async () => (await textOf(page, "#banner")) === "A test notification is on its way (webhook, ntfy).");
    await narrow(page, "notifications");
    check(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

// RFC 6238 with the authenticator apps' defaults, computed here as an app would.
function totpCode(base32, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[19] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0");
}
const totpStep = () => Math.floor(Date.now() / 30000);

async function totp() {
  const { browser, page, problems } = await launch();
  const secret = process.env.TOTP_SECRET;
  try {
    await page.goto(`${BASE_URL}/admin`);
    await page.locator("#login-view").waitFor();
    check(await page.locator("#login-otp-row").isHidden(), "the code field shows before it is needed");
    // The password alone: the page says a code is needed and shows the field for it.
    await login(page, ADMIN_PASSWORD);
    await page.locator("#login-otp-row").waitFor();
    const asked = await textOf(page, "#login-error");
    check(/second factor/.test(asked), `the login does not ask for the code: ${asked}`);
    check(await page.locator("#app-view").isHidden(), "the app opened without a code");
    const loginStep = totpStep();
    await page.locator("#login-otp").fill(totpCode(secret, loginStep));
    await page.locator("#login-submit").click();
    await page.locator("#app-view").waitFor();
    check((await textOf(page, "#who-name")) === ADMIN_USER, "the user name is not shown");

    // Opening a door asks for a fresh code (the step-up window is 0 here): a wrong one is refused
    // in the dialog, the next step's code opens the door.
    const card = page.locator('.door[data-service="metrics"]');
    await card.waitFor();
    await card.locator(".door-minutes").selectOption("15");
    await card.locator(".door-open-button").click();
    await page.locator("#otp-dialog").waitFor();
    const message = await textOf(page, "#otp-message");
    check(/fresh one-time code/.test(message), `the step-up dialog says: ${message}`);
    await screenshot(page, "otp-step-up");
    const valid = new Set([-1, 0, 1, 2].map((d) => totpCode(secret, loginStep + d)));
    const wrong = ["000000", "111111", "222222"].find((c) => !valid.has(c));
    await page.locator("#otp-code").fill(wrong);
    await page.locator("#otp-submit").click();
    await waitFor("the refusal in the dialog", async () => (await textOf(page, "#otp-error")) !== "");
    check(await page.locator("#otp-dialog").isVisible(), "the dialog closed after a wrong code");
    check((await card.locator(".badge").textContent()) === "CLOSED", "the door opened with a wrong code");
    await page.locator("#otp-code").fill(totpCode(secret, loginStep + 1));
    await page.locator("#otp-submit").click();
    await waitFor("the card to show open", async () => (await card.locator(".badge").textContent()) === "OPEN");
    check(await page.locator("#otp-dialog").isHidden(), "the dialog stayed open");
    check((await card.locator(".door-by").textContent()) === ADMIN_USER, "opened by is not the admin");
    // Cancelling the dialog leaves the door as it was and says why.
    await page.locator("#all-minutes").selectOption("30");
    await page.locator("#open-all").click();
    await page.locator("#otp-dialog").waitFor();
    await page.locator("#otp-cancel").click();
    await waitFor("the cancel banner", async () => /one-time code/.test(await textOf(page, "#banner")));
    check((await page.locator(".door .badge").allTextContents()).filter((b) => b === "OPEN").length === 1, "open-all ran without a code");
    check(problems.length === 0, `browser errors: ${problems.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

const scenarios = { workflow, xss, extend, totp, notifications };
if (!scenarios[scenario]) {
  console.error(`usage: node admin_ui.mjs ${Object.keys(scenarios).join("|")}`);
  process.exit(2);
}
try {
  await scenarios[scenario]();
  console.log(`PASS browser ${scenario}`);
} catch (e) {
  console.error(`FAIL browser ${scenario}: ${e instanceof CheckFailed ? e.message : e.stack}`);
  if (reported.length) console.error(`browser errors: ${reported.join(" | ")}`);
  process.exit(1);
}
