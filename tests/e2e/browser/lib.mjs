// Shared pieces of the browser scenarios run by tests/e2e/tests/browser.rs.
//
// A scenario drives a real Chromium (Debian's /usr/bin/chromium through playwright-core) as a
// person would, and reports what it saw as JSON lines on stdout: one line per phase, each an
// object with a "phase" field. The Rust test asserts on them, and checks from outside the
// browser what the Worker stored. A scenario never decides pass or fail on its own, except
// when it cannot go on (an element that never appears, a timeout): then it prints
// {"phase": "error", ...} and exits 1, leaving a screenshot of the page in
// EDGEAUTH_BROWSER_ARTIFACTS when that is set.
//
// Settings (environment):
//   EDGEAUTH_BROWSER_BASE        the Worker's base URL, http://127.0.0.1:PORT (required)
//   EDGEAUTH_BROWSER_IDP         the identity provider's base URL (to tell its pages apart)
//   EDGEAUTH_BROWSER_USER        IdP username (default demo)
//   EDGEAUTH_BROWSER_PASSWORD    IdP password (default demo-password)
//   EDGEAUTH_SCREENSHOTS_DIR     where the documentation screenshots go; none taken without it
//   EDGEAUTH_BROWSER_ARTIFACTS   where a failure screenshot goes
//   EDGEAUTH_BROWSER_TIMEOUT_MS  patience for one browser action (default 30000)
//   EDGEAUTH_BROWSER_DEADLINE_MS the whole run, after which it gives up (default 300000)
//   EDGEAUTH_CHROMIUM            the Chromium binary (default /usr/bin/chromium)
//
// Scenarios that take commands read them as JSON lines on stdin ({"do": "...", ...}).

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The run's settings, from the environment. */
export function config() {
  const raw = process.env.EDGEAUTH_BROWSER_BASE;
  if (!raw) fatal('EDGEAUTH_BROWSER_BASE is not set (the Worker base URL, http://127.0.0.1:PORT)');
  const url = new URL(raw);
  if (url.protocol !== 'http:' || (url.pathname !== '/' && url.pathname !== '')) {
    fatal(`EDGEAUTH_BROWSER_BASE=${raw} must be a base URL like http://127.0.0.1:PORT`);
  }
  const number = (name, fallback) => {
    const value = Number(process.env[name] || fallback);
    if (!Number.isFinite(value) || value <= 0) fatal(`${name} must be a positive number of milliseconds`);
    return value;
  };
  return {
    base: url.origin,
    origin: url.origin,
    idp: process.env.EDGEAUTH_BROWSER_IDP ? new URL(process.env.EDGEAUTH_BROWSER_IDP).origin : null,
    user: process.env.EDGEAUTH_BROWSER_USER || 'demo',
    password: process.env.EDGEAUTH_BROWSER_PASSWORD || 'demo-password',
    screenshots: process.env.EDGEAUTH_SCREENSHOTS_DIR || null,
    artifacts: process.env.EDGEAUTH_BROWSER_ARTIFACTS || null,
    timeout: number('EDGEAUTH_BROWSER_TIMEOUT_MS', 30000),
    deadline: number('EDGEAUTH_BROWSER_DEADLINE_MS', 300000),
  };
}

/** The two widths of the documentation screenshots. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

/**
 * Screenshots of `page` as it is, `<name>-desktop.png` (the first screen at 1280×800) and
 * `<name>-phone.png` (the whole page at 375 wide), into EDGEAUTH_SCREENSHOTS_DIR; null when
 * that is not set. Returns their paths and the page's width on a phone (wider than 375: it
 * scrolls sideways). The page is left at desktop width.
 */
export async function screenshot(run, page, cfg, name) {
  if (!cfg.screenshots) return null;
  run.at(`screenshots of ${name}`);
  mkdirSync(cfg.screenshots, { recursive: true });
  const desktop = join(cfg.screenshots, `${name}-desktop.png`);
  const phone = join(cfg.screenshots, `${name}-phone.png`);
  await page.setViewportSize(DESKTOP);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: desktop, animations: 'disabled', caret: 'hide' });
  await page.setViewportSize(PHONE);
  await page.evaluate(() => window.scrollTo(0, 0));
  const phoneWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: phone, fullPage: true, animations: 'disabled', caret: 'hide' });
  await page.setViewportSize(DESKTOP);
  return { desktop, phone, phone_width: phoneWidth };
}

/** Prints one JSON line for the Rust side. */
export function emit(observation) {
  process.stdout.write(`${JSON.stringify(observation)}\n`);
}

/** A problem with how the scenario was started: no browser involved yet. */
export function fatal(message) {
  emit({ phase: 'error', step: 'configuration', error: message });
  process.exit(2);
}

/**
 * Runs a scenario: launches Chromium, gives `body` a Run, and turns any exception into an
 * {"phase": "error"} line (with a screenshot in the artifacts directory). Exits when done.
 */
export async function scenario(name, body) {
  const cfg = config();
  const run = new Run(name, cfg);
  const watchdog = setTimeout(() => {
    emit({ phase: 'error', step: run.step, error: `the scenario took more than ${cfg.deadline} ms`, ...run.diagnostics() });
    process.exit(3);
  }, cfg.deadline);
  let code = 0;
  try {
    run.browser = await chromium.launch({
      executablePath: process.env.EDGEAUTH_CHROMIUM || '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      timeout: 60000,
    });
    await body(run, cfg);
  } catch (error) {
    code = 1;
    await run.failureScreenshot();
    emit({
      phase: 'error',
      step: run.step,
      error: String((error && error.stack) || error),
      url: run.page ? redactUrl(run.page.url()) : null,
      ...run.diagnostics(),
    });
  } finally {
    clearTimeout(watchdog);
    if (run.browser) await run.browser.close().catch(() => {});
    run.closeInput();
  }
  process.exit(code);
}

/** The state of one scenario run: the browser, the page being driven, what was observed. */
export class Run {
  constructor(name, cfg) {
    this.name = name;
    this.cfg = cfg;
    this.step = 'launch';
    this.browser = null;
    this.page = null;
    this.consoleErrors = [];
    this.pageErrors = [];
    this.httpErrors = [];
    this.navigations = [];
    this.dialogs = [];
    this.nextDialogAnswer = null;
    this.input = null;
  }

  /** Names the step in progress, for the error line if it fails. */
  at(step) {
    this.step = step;
  }

  /** A fresh context (no cookies) and page, watched for console errors and failed requests. */
  async newPage(options = {}) {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    context.setDefaultTimeout(this.cfg.timeout);
    context.setDefaultNavigationTimeout(this.cfg.timeout);
    const page = await context.newPage();
    this.watch(page);
    this.page = page;
    return page;
  }

  /** Records console errors (CSP violations are among them), uncaught exceptions, HTTP errors. */
  watch(page) {
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const location = message.location();
      this.consoleErrors.push({
        page: redactUrl(page.url()),
        source: location && location.url ? redactUrl(location.url) : null,
        text: message.text(),
      });
    });
    page.on('pageerror', (error) => {
      this.pageErrors.push({ page: redactUrl(page.url()), text: String(error) });
    });
    page.on('response', (response) => {
      const request = response.request();
      const record = { method: request.method(), url: redactUrl(response.url()), status: response.status() };
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
        const headers = response.headers();
        this.navigations.push({
          ...record,
          content_type: headers['content-type'] || null,
          content_security_policy: headers['content-security-policy'] || null,
          x_frame_options: headers['x-frame-options'] || null,
          referrer_policy: headers['referrer-policy'] || null,
          cache_control: headers['cache-control'] || null,
        });
      }
      if (response.status() >= 400) this.httpErrors.push(record);
    });
    page.on('dialog', (dialog) => {
      // A scenario that expects a dialog says how to answer it with answerNextDialog; one
      // nobody expected is dismissed and reported.
      const answer = this.nextDialogAnswer;
      this.nextDialogAnswer = null;
      this.dialogs.push({ type: dialog.type(), message: dialog.message(), answer: answer || 'unexpected' });
      (answer === 'accept' ? dialog.accept() : dialog.dismiss()).catch(() => {});
    });
  }

  /** How to answer the next dialog (alert, confirm, prompt): 'accept' or 'dismiss'. */
  answerNextDialog(answer) {
    this.nextDialogAnswer = answer;
  }

  /** What went wrong in the page so far, for every phase line. */
  diagnostics() {
    return {
      console_errors: [...this.consoleErrors],
      page_errors: [...this.pageErrors],
      http_errors: [...this.httpErrors],
    };
  }

  async failureScreenshot() {
    if (!this.cfg.artifacts || !this.page) return;
    try {
      mkdirSync(this.cfg.artifacts, { recursive: true });
      const file = join(this.cfg.artifacts, `${this.name}-failure.png`);
      await this.page.screenshot({ path: file, fullPage: true, timeout: 5000 });
      process.stderr.write(`browser: failure screenshot at ${file}\n`);
    } catch (error) {
      process.stderr.write(`browser: no failure screenshot (${error})\n`);
    }
  }

  /** The next command from the test on stdin, a JSON object; fails on EOF or after `ms`. */
  async command(ms = 120000) {
    if (!this.input) {
      this.input = createInterface({ input: process.stdin });
      this.lines = this.input[Symbol.asyncIterator]();
    }
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no command from the test within ${ms} ms`)), ms);
    });
    try {
      const next = await Promise.race([this.lines.next(), timeout]);
      if (next.done) throw new Error('stdin closed before the test sent the next command');
      return JSON.parse(next.value);
    } finally {
      clearTimeout(timer);
    }
  }

  closeInput() {
    if (this.input) this.input.close();
    process.stdin.destroy();
  }
}

/** A URL without its query and fragment (authorization codes, states) for reports. */
export function redactUrl(text) {
  try {
    const url = new URL(text);
    return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
  } catch {
    return text;
  }
}

/**
 * Signs in from the signed-out /account page the way a person does: the "Sign in" link, the
 * identity provider's form, back to /account. Returns what it saw on the way.
 */
export async function signIn(run, page, cfg, { user = cfg.user, password = cfg.password, expectAccount = true } = {}) {
  const seen = {};
  run.at('open the signed-out /account');
  const response = await page.goto(`${cfg.base}/account`);
  seen.signed_out_status = response ? response.status() : null;
  const signin = page.locator('#signin');
  await signin.waitFor({ state: 'visible' });
  const href = await signin.getAttribute('href');
  const target = new URL(href, cfg.base);
  seen.signin = {
    text: (await signin.innerText()).trim(),
    origin: target.origin,
    path: target.pathname,
    return_to: target.searchParams.get('return_to'),
  };
  seen.signed_out_identity_present = (await page.locator('#identity').count()) > 0;
  seen.signed_out_tokens_present = (await page.locator('#tokens').count()) > 0;

  run.at('follow "Sign in" to the identity provider');
  await signin.click();
  const username = page.locator('input[name=username]');
  await username.waitFor({ state: 'visible' });
  const login = new URL(page.url());
  seen.idp_login_origin = login.origin;
  seen.idp_login_path = login.pathname;

  run.at(`sign in at the identity provider as ${user}`);
  await username.fill(user);
  await page.locator('input[name=password]').fill(password);
  await page.locator('#submit').click();
  // Back on the Worker's origin once the redirect commits; what the caller reads next waits for
  // its own element, so a slow stylesheet under a loaded CI machine cannot fail the sign-in.
  await page.waitForURL((url) => url.origin === cfg.origin, { waitUntil: 'commit' });
  seen.landed_path = new URL(page.url()).pathname;
  if (expectAccount) {
    run.at('back at /account, signed in');
    await page.locator('#identity').waitFor({ state: 'visible' });
  }
  return seen;
}

/** The signed-in person's cookies for the Worker, without their values. */
export async function cookieFlags(context, cfg) {
  const cookies = await context.cookies(cfg.base);
  const flags = {};
  for (const cookie of cookies) {
    if (!cookie.name.startsWith('edgeauth_')) continue;
    flags[cookie.name] = {
      http_only: cookie.httpOnly,
      secure: cookie.secure,
      same_site: cookie.sameSite,
      path: cookie.path,
      session_only: cookie.expires === -1,
      lifetime_days: cookie.expires === -1 ? null : Math.round((cookie.expires * 1000 - Date.now()) / 86400000),
    };
  }
  return flags;
}

/** The rows of the #tokens table: their data-token-id and visible text. */
export async function tokenRows(page) {
  return page.$$eval('#tokens tr[data-token-id]', (rows) =>
    rows.map((row) => ({
      id: row.getAttribute('data-token-id'),
      text: row.innerText.replace(/\s+/g, ' ').trim(),
      has_revoke: !!row.querySelector('.revoke'),
    })),
  );
}

/** The value shown in an element: an input's value, or its text. */
export async function shownValue(locator) {
  return locator.evaluate((el) =>
    el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent.trim(),
  );
}

/** `fetch(path)` from inside the page (its cookies, its origin); status and JSON body. */
export async function pageFetch(page, path, init = {}) {
  return page.evaluate(
    async ({ path, init }) => {
      const response = await fetch(path, { credentials: 'same-origin', ...init });
      const text = await response.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: response.status, json };
    },
    { path, init },
  );
}

/**
 * Creates a token from the signed-in /account page by keyboard only: focus the name field,
 * type, Enter. Returns the plaintext shown in the "new token" panel.
 */
export async function createTokenByKeyboard(run, page, name) {
  run.at(`create token ${name} by keyboard`);
  const panel = page.locator('#new-token');
  const before = (await panel.isVisible()) ? await shownValue(page.locator('#new-token-value')) : null;
  // The form is enabled by the page's script once it has loaded: a key pressed before that
  // submits nothing.
  await page.waitForFunction(() => {
    const fields = document.querySelector('#create-fields');
    return fields && !fields.disabled;
  });
  await page.focus('#token-name');
  await page.keyboard.type(name);
  await page.keyboard.press('Enter');
  return waitForNewToken(page, before);
}

/**
 * Waits until the "new token" panel shows a token other than `before`, and the tokens table
 * has a row showing its display prefix (the table may refresh a moment after the panel).
 * Returns the plaintext.
 */
export async function waitForNewToken(page, before) {
  const token = await waitForPanel(page, before);
  await page.waitForFunction(
    (prefix) => [...document.querySelectorAll('#tokens tr[data-token-id]')].some((row) => row.innerText.includes(prefix)),
    token.slice(0, 12),
  );
  return token;
}

async function waitForPanel(page, before) {
  await page.locator('#new-token').waitFor({ state: 'visible' });
  const value = page.locator('#new-token-value');
  await page.waitForFunction(
    (before) => {
      const el = document.querySelector('#new-token-value');
      if (!el) return false;
      const shown = el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent.trim();
      return shown !== '' && shown !== before;
    },
    before,
  );
  return shownValue(value);
}
