// The person's part of `edgeauth login --device` (RFC 8628, docs/api.md "Device login"), in a
// real browser. Run by tests/e2e/tests/device_login.rs with the URL the CLI printed (its
// `verification_uri_complete`). Settings in lib.mjs, and:
//
//   EDGEAUTH_DEVICE_URL       the URL to open: EDGEAUTH_BROWSER_BASE/device?user_code=XXXX-XXXX
//   EDGEAUTH_DEVICE_DECISION  approve (default) or deny: the button the person presses
//
// The person opens the URL in a browser with no session; the Worker sends them to sign in at
// the identity provider, which brings them back to /device with the code kept, filled in the
// entry form (opening the link looks nothing up); they check it and press Continue
// (#submit-code, the form's POST, which is the guess the server counts), read the
// confirmation and press #approve or #deny, then read the result page.
//
// stdout, one JSON line per phase:
//   {"phase": "entry", "signed_in_at_provider", "path", "query_user_code", "field_value",
//    "check_hint", "message", "forms", "hidden_fields", "response": {status, ...}, ...}
//   {"phase": "confirm", "path", "heading",
//    "client_name", "person", "project", "code", "terms", "summary", "buttons", "forms",
//    "hidden_fields", "response": {status, csp, x_frame_options, ...}, ...}
//   {"phase": "done", "path", "status", "heading", "text", ...}
// URLs in reports never carry their query, except the user code (shown to people anyway).

import { emit, redactUrl, scenario } from './lib.mjs';

const url = process.env.EDGEAUTH_DEVICE_URL;
const decision = process.env.EDGEAUTH_DEVICE_DECISION || 'approve';

/** The trimmed text of the first element matching `selector`, or null. */
async function textOf(page, selector) {
  const element = page.locator(selector);
  return (await element.count()) ? (await element.first().innerText()).trim() : null;
}

await scenario('device', async (run, cfg) => {
  run.at('read the URL to open');
  if (!url) throw new Error('no URL: set EDGEAUTH_DEVICE_URL');
  if (decision !== 'approve' && decision !== 'deny') {
    throw new Error(`EDGEAUTH_DEVICE_DECISION must be approve or deny, not ${decision}`);
  }
  const target = new URL(url);
  if (target.origin !== cfg.origin || target.pathname !== '/device') {
    throw new Error(`expected ${cfg.origin}/device?user_code=…, got ${redactUrl(url)}`);
  }
  const page = await run.newPage();

  run.at('open the URL the CLI printed');
  const navigationsBefore = run.navigations.length;
  await page.goto(url);
  const username = page.locator('input[name=username]');
  await page.locator('input[name=username], #submit-code').first().waitFor({ state: 'visible' });
  const signedInAtProvider = await username.isVisible();
  if (signedInAtProvider) {
    run.at(`sign in at the identity provider as ${cfg.user}`);
    await username.fill(cfg.user);
    await page.locator('input[name=password]').fill(cfg.password);
    await page.locator('#submit').click();
  }

  run.at('read the entry page the link opened');
  await page.locator('#submit-code').waitFor({ state: 'visible' });
  const entryAt = new URL(page.url());
  const lastResponse = (since) =>
    run.navigations
      .slice(since)
      .filter((n) => n.url.startsWith(cfg.base))
      .pop() || null;
  emit({
    phase: 'entry',
    signed_in_at_provider: signedInAtProvider,
    origin: entryAt.origin,
    path: entryAt.pathname,
    query_user_code: entryAt.searchParams.get('user_code'),
    heading: await textOf(page, 'h1'),
    field_value: await page.locator('#user-code').inputValue(),
    check_hint: await textOf(page, '#check-code'),
    message: await textOf(page, '#device-message'),
    forms: await page.$$eval('form', (forms) =>
      forms.map((f) => ({ method: f.method, action_path: new URL(f.action).pathname, action_origin: new URL(f.action).origin })),
    ),
    hidden_fields: await page.$$eval('form input[type=hidden]', (inputs) => inputs.map((i) => i.name)),
    response: lastResponse(navigationsBefore),
    navigations: run.navigations.slice(navigationsBefore),
    ...run.diagnostics(),
  });

  run.at('press Continue (#submit-code)');
  const navigationsAtContinue = run.navigations.length;
  const continued = page.waitForResponse(
    (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/device',
  );
  await page.locator('#submit-code').click();
  const continuedResponse = await continued;
  await page.waitForLoadState('load');

  run.at('read the confirmation page');
  await page.locator('#approve').waitFor({ state: 'visible' });
  const here = new URL(page.url());
  emit({
    phase: 'confirm',
    origin: here.origin,
    path: here.pathname,
    status: continuedResponse.status(),
    title: await page.title(),
    heading: await textOf(page, 'h1'),
    summary: await textOf(page, '#grant-summary'),
    client_name: await textOf(page, '#client-name'),
    person: await textOf(page, '#person'),
    project: await textOf(page, '#project'),
    code: await textOf(page, '#confirm-code'),
    terms: await textOf(page, '#grant-terms'),
    buttons: await page.$$eval('form button', (buttons) =>
      buttons.map((b) => ({ id: b.id, text: b.textContent.trim(), name: b.name, value: b.value })),
    ),
    forms: await page.$$eval('form', (forms) =>
      forms.map((f) => ({ method: f.method, action_path: new URL(f.action).pathname, action_origin: new URL(f.action).origin })),
    ),
    hidden_fields: await page.$$eval('form input[type=hidden]', (inputs) => inputs.map((i) => i.name)),
    response: lastResponse(navigationsAtContinue),
    navigations: run.navigations.slice(navigationsAtContinue),
    ...run.diagnostics(),
  });

  run.at(`press #${decision}`);
  const navigationsAtDecision = run.navigations.length;
  const decided = page.waitForResponse(
    (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/device',
  );
  await page.locator(`#${decision}`).click();
  const response = await decided;
  await page.waitForLoadState('load');

  run.at('read the result page');
  await page.locator('#device-result').waitFor({ state: 'visible' });
  emit({
    phase: 'done',
    path: new URL(page.url()).pathname,
    status: response.status(),
    heading: await textOf(page, '#device-result'),
    text: (await page.locator('main').innerText()).trim(),
    navigations: run.navigations.slice(navigationsAtDecision),
    ...run.diagnostics(),
  });
});
