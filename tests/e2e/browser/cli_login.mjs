// The person's part of `edgeauth login` (the CLI loopback login of docs/api.md), in a real
// browser. Run by tests/e2e/tests/cli_login.rs, either by the test itself with the URL the CLI
// printed, or by the CLI as its EDGEAUTH_BROWSER (through a small wrapper script), which gives
// the URL as the one argument. Settings in lib.mjs, and:
//
//   the URL                      argv[2], else EDGEAUTH_CLI_LOGIN_URL: the CLI's
//                                /api/auth/cli-start?… address on EDGEAUTH_BROWSER_BASE
//   EDGEAUTH_CLI_LOGIN_DECISION  approve (default) or deny: the button the person presses
//   EDGEAUTH_CLI_LOGIN_SIGN_IN_FIRST=1  sign in on /account before opening the URL, so that
//                                the browser already has a session when the CLI's URL opens
//   EDGEAUTH_CLI_LOGIN_REPORT_SECRETS=1  add "secrets": {code, state} to the "landed" line (the
//                                query the browser brought to the CLI), for the test to look
//                                for them in storage and logs; never otherwise reported
//   EDGEAUTH_SCREENSHOTS_NAME    with EDGEAUTH_SCREENSHOTS_DIR: screenshots of the CLI's page,
//                                `<name>-desktop.png` and `<name>-phone.png` (lib.mjs)
//
// The person opens the URL; if the Worker sends them to the identity provider, they sign in
// there; on the consent page they read what it says and press #approve or #deny; the browser
// then lands on the CLI's loopback listener, whose page they read.
//
// stdout, one JSON line per phase:
//   {"phase": "signed_in", ...}   (only with EDGEAUTH_CLI_LOGIN_SIGN_IN_FIRST=1)
//   {"phase": "consent", "signed_in_at_provider", "path", "person", "project", "client_name",
//    "listener", "heading", "buttons", "response": {status, content_type, csp, ...}, ...}
//   {"phase": "landed", "origin", "path", "query_keys", "status", "title", "heading", "text",
//    "loopback_origin", "phone_width" (with screenshots), ...}
// URLs in reports never carry their query (codes and states stay out of logs).

import { emit, redactUrl, scenario, screenshot, signIn } from './lib.mjs';

const url = process.argv[2] || process.env.EDGEAUTH_CLI_LOGIN_URL;
const decision = process.env.EDGEAUTH_CLI_LOGIN_DECISION || 'approve';
const signInFirst = process.env.EDGEAUTH_CLI_LOGIN_SIGN_IN_FIRST === '1';
const reportSecrets = process.env.EDGEAUTH_CLI_LOGIN_REPORT_SECRETS === '1';
const screenshotName = process.env.EDGEAUTH_SCREENSHOTS_NAME || null;

await scenario('cli_login', async (run, cfg) => {
  run.at('read the URL to open');
  if (!url) throw new Error('no URL: pass it as the argument or in EDGEAUTH_CLI_LOGIN_URL');
  if (decision !== 'approve' && decision !== 'deny') {
    throw new Error(`EDGEAUTH_CLI_LOGIN_DECISION must be approve or deny, not ${decision}`);
  }
  const start = new URL(url);
  if (start.origin !== cfg.origin || start.pathname !== '/api/auth/cli-start') {
    throw new Error(`expected ${cfg.origin}/api/auth/cli-start?…, got ${redactUrl(url)}`);
  }
  const loopback = new URL(start.searchParams.get('redirect_uri') || 'about:blank');
  const page = await run.newPage();

  if (signInFirst) {
    const seen = await signIn(run, page, cfg);
    emit({ phase: 'signed_in', ...seen });
  }

  run.at('open the URL the CLI printed');
  const navigationsBefore = run.navigations.length;
  await page.goto(url);
  const username = page.locator('input[name=username]');
  const approve = page.locator('#approve');
  // Either the provider's login form (no session yet) or the consent page (a session).
  await page.locator('input[name=username], #approve').first().waitFor({ state: 'visible' });
  const signedInAtProvider = await username.isVisible();
  if (signedInAtProvider) {
    run.at(`sign in at the identity provider as ${cfg.user}`);
    await username.fill(cfg.user);
    await page.locator('input[name=password]').fill(cfg.password);
    await page.locator('#submit').click();
  }

  run.at('read the consent page');
  await approve.waitFor({ state: 'visible' });
  const here = new URL(page.url());
  const text = async (selector) => {
    const element = page.locator(selector);
    return (await element.count()) ? (await element.first().innerText()).trim() : null;
  };
  const consentResponse = run.navigations.slice(navigationsBefore).filter((n) => n.url.startsWith(cfg.base)).pop();
  emit({
    phase: 'consent',
    signed_in_at_provider: signedInAtProvider,
    origin: here.origin,
    path: here.pathname,
    title: await page.title(),
    heading: await text('h1'),
    person: await text('#person'),
    project: await text('#project'),
    client_name: await text('#client-name'),
    listener: await text('#listener'),
    buttons: await page.$$eval('form button', (buttons) =>
      buttons.map((b) => ({ id: b.id, text: b.textContent.trim(), name: b.name, value: b.value })),
    ),
    forms: await page.$$eval('form', (forms) =>
      forms.map((f) => ({ method: f.method, action_path: new URL(f.action).pathname, action_origin: new URL(f.action).origin })),
    ),
    response: consentResponse || null,
    navigations: run.navigations.slice(navigationsBefore),
    ...run.diagnostics(),
  });

  run.at(`press #${decision}`);
  const navigationsAtDecision = run.navigations.length;
  const landedResponse = page.waitForResponse(
    (response) => new URL(response.url()).origin === loopback.origin && response.request().isNavigationRequest(),
  );
  await page.locator(`#${decision}`).click();
  const response = await landedResponse;
  await page.waitForLoadState('load');

  run.at('read the page of the CLI');
  const landed = new URL(page.url());
  const shot = screenshotName ? await screenshot(run, page, cfg, screenshotName) : null;
  emit({
    phase: 'landed',
    loopback_origin: loopback.origin,
    origin: landed.origin,
    path: landed.pathname,
    query_keys: [...landed.searchParams.keys()],
    status: response.status(),
    title: await page.title(),
    heading: await text('h1'),
    text: (await page.locator('body').innerText()).trim(),
    navigations: run.navigations.slice(navigationsAtDecision),
    phone_width: shot ? shot.phone_width : null,
    ...run.diagnostics(),
    ...(reportSecrets
      ? { secrets: { code: landed.searchParams.get('code'), state: landed.searchParams.get('state') } }
      : {}),
  });
});
