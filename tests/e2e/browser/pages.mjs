// Every page of the Worker as a person sees it, and the service-token page at work: the home
// page, the signed-out page, an error page, /account (its screenshots are account.mjs's),
// /account/service-tokens (create a
// service token for chosen workspaces, roll it, revoke it), the CLI consent page, and the
// device pages (entry, confirmation, approved, denied). Run by tests/e2e/tests/browser.rs;
// settings in lib.mjs. Screenshots of each page at desktop and phone width go to
// EDGEAUTH_SCREENSHOTS_DIR when it is set (`<page>-desktop.png`, `<page>-phone.png`; the
// phone one is the whole page).
//
// The person is `demo` (in ADMIN_TEAMS on MAIN: an admin of every project without stored
// roles) and works in EDGEAUTH_PAGES_PROJECT (default `default`).
//
// stdout, one JSON line: {"phase": "pages", "home": {...}, "signed_out": {...},
//   "error": {...}, "account": {...}, "service_tokens": {...}, "consent": {...},
//   "device": {...}, "screenshots": [...], "phone_overflow": {...}, console_errors, ...}

import { DESKTOP, emit, scenario, screenshot, shownValue, signIn, tokenRows, waitForNewToken } from './lib.mjs';

const project = process.env.EDGEAUTH_PAGES_PROJECT || 'default';

/** The trimmed, one-line text of the first element matching `selector`, or null. */
async function textOf(page, selector) {
  const element = page.locator(selector);
  return (await element.count()) ? (await element.first().innerText()).replace(/\s+/g, ' ').trim() : null;
}

/** The paths the page's links point to (same origin only), in order. */
async function links(page, origin) {
  return page.$$eval('a[href]', (anchors, origin) =>
    anchors
      .map((a) => new URL(a.getAttribute('href'), document.baseURI))
      .filter((url) => url.origin === origin)
      .map((url) => url.pathname + url.search), origin);
}

await scenario('pages', async (run, cfg) => {
  const observed = { phase: 'pages', screenshots: [], phone_overflow: {} };

  // The current page at both widths; at the phone width, also whether it scrolls sideways.
  async function shoot(page, name) {
    const shot = await screenshot(run, page, cfg, name);
    if (!shot) return;
    observed.phone_overflow[name] = shot.phone_width;
    observed.screenshots.push(name);
  }

  const page = await run.newPage({ viewport: DESKTOP });

  run.at('open / as a browser');
  const home = await page.goto(`${cfg.base}/`);
  observed.home = {
    status: home.status(),
    content_type: home.headers()['content-type'] || null,
    heading: await textOf(page, 'h1'),
    links: await links(page, cfg.origin),
  };
  await shoot(page, 'home');

  run.at('open an unknown path');
  const missing = await page.goto(`${cfg.base}/no-such-page`);
  observed.error = {
    status: missing.status(),
    heading: await textOf(page, 'h1'),
    message: await textOf(page, '#error-message'),
    message_code: await page.locator('#error-message code').allInnerTexts(),
    code: await textOf(page, '#error-code'),
    links: await links(page, cfg.origin),
  };
  await shoot(page, 'error');

  run.at('the signed-out page');
  await page.goto(`${cfg.base}/account`);
  await page.locator('#signin').waitFor({ state: 'visible' });
  observed.signed_out = { heading: await textOf(page, 'h1') };
  await shoot(page, 'signed-out');

  observed.sign_in = await signIn(run, page, cfg);

  run.at('/account: another project, typed under "Another project"');
  await page.locator('.other-project summary').click();
  await page.locator('#other-project').fill(project);
  await Promise.all([
    page.waitForURL((url) => url.searchParams.get('project') === project),
    page.locator('#other-project-form button[type="submit"]').click(),
  ]);
  await page.locator('#identity').waitFor({ state: 'visible' });
  observed.switched_to = new URL(page.url()).pathname + new URL(page.url()).search;

  run.at('/account: the project and workspace choices');
  await page.waitForFunction(() => !document.querySelector('#create-fields').disabled);
  observed.account = await page.evaluate(() => ({
    projects: [...document.querySelectorAll('#project-choice option')].map((o) => ({ value: o.value, selected: o.selected })),
    workspace_choices: [...document.querySelectorAll('#token-workspaces input[name="workspace"]')].map((b) => ({ value: b.value, checked: b.checked })),
    expiry_default: document.querySelector('#token-expiry').value,
    columns: [...document.querySelectorAll('#tokens thead th')].map((th) => th.textContent.trim()),
    service_tokens_link: document.querySelector('#service-tokens-link') ? document.querySelector('#service-tokens-link').getAttribute('href') : null,
  }));

  run.at('/account/service-tokens');
  await page.locator('#service-tokens-link').click();
  await page.locator('#tokens').waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const body = document.querySelector('#tokens tbody');
    return body && !body.hasAttribute('aria-busy') && !body.textContent.includes('Loading');
  });
  const st = { path: new URL(page.url()).pathname + new URL(page.url()).search };
  st.heading = await textOf(page, 'h1');
  st.rows_before = await tokenRows(page);

  run.at('a refused pattern: the message shows its code spans as code');
  await page.locator('#token-name').fill('refused');
  await page.locator('#token-other-workspaces').fill('a/../b');
  await page.locator('#create-token').click();
  await page.locator('#message code').first().waitFor({ state: 'visible' });
  st.refusal = {
    text: await textOf(page, '#message'),
    code_spans: await page.locator('#message p:first-child code').allInnerTexts(),
  };
  await page.locator('#token-other-workspaces').fill('');

  run.at('create a service token for deploy/* and docs');
  const name = `pages-${Date.now()}`;
  await page.locator('#token-name').fill(name);
  await page.locator('#token-other-workspaces').fill('deploy/*, docs');
  st.all_ticked_after_typing = await page.locator('#token-workspaces input[value="*"]').isChecked();
  await page.locator('#token-expiry').selectOption('30');
  await page.locator('#create-token').click();
  st.created = await waitForNewToken(page, null);
  st.created_panel_visible = await page.locator('#new-token').isVisible();
  const row = page.locator('#tokens tr[data-token-id]', { hasText: st.created.slice(0, 12) });
  st.created_id = await row.getAttribute('data-token-id');
  st.created_row = await textOf(page, `#tokens tr[data-token-id="${st.created_id}"]`);

  run.at('roll it');
  await page.locator('#dismiss-token').click();
  run.answerNextDialog('accept');
  await page.locator(`#tokens tr[data-token-id="${st.created_id}"] .roll`).click();
  st.rolled = await waitForNewToken(page, '');
  st.rolled_row_present_for_old = (await page.locator(`#tokens tr[data-token-id="${st.created_id}"]`).count()) > 0;
  const rolledRow = page.locator('#tokens tr[data-token-id]', { hasText: st.rolled.slice(0, 12) });
  st.rolled_id = await rolledRow.getAttribute('data-token-id');

  run.at('revoke the rolled token');
  await page.locator('#dismiss-token').click();
  run.answerNextDialog('accept');
  await page.locator(`#tokens tr[data-token-id="${st.rolled_id}"] .revoke`).click();
  await page.locator(`#tokens tr[data-token-id="${st.rolled_id}"]`).waitFor({ state: 'detached' });
  st.status = await textOf(page, '#status');
  st.dialogs = run.dialogs.map((d) => ({ type: d.type, answer: d.answer }));

  run.at('a service token to show, and a reload');
  await page.locator('#token-name').fill('ci-deploy');
  await page.locator('#token-other-workspaces').fill('production/*');
  await page.locator('#create-token').click();
  st.shown = await waitForNewToken(page, null);
  await page.reload();
  await page.locator('#tokens tr[data-token-id]').first().waitFor({ state: 'visible' });
  st.rows_after_reload = await tokenRows(page);
  st.panel_visible_after_reload = await page.locator('#new-token').isVisible();
  observed.service_tokens = st;
  await shoot(page, 'service-tokens');

  run.at('the CLI consent page');
  const consentUrl = new URL(`${cfg.base}/api/auth/cli-start`);
  consentUrl.search = new URLSearchParams({
    redirect_uri: 'http://127.0.0.1:53682/callback',
    state: 'pages-scenario-state-0123456789abcdef',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    name: 'edgeauth CLI on laptop',
    project,
  }).toString();
  const consent = await page.goto(consentUrl.toString());
  await page.locator('#approve').waitFor({ state: 'visible' });
  observed.consent = {
    status: consent.status(),
    project: await textOf(page, '#project'),
    workspaces: await textOf(page, '#workspaces'),
    lifetime: await textOf(page, '#lifetime'),
    buttons: await page.locator('#consent-form button').allInnerTexts(),
  };
  await shoot(page, 'consent');

  run.at('the device pages: a code from the API, as the CLI would ask for one');
  const device = {};
  const grant = async () => {
    const answer = await fetch(`${cfg.base}/api/auth/device/code`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Project': project },
      body: JSON.stringify({ client_name: 'edgeauth CLI on laptop' }),
    });
    if (answer.status !== 200) throw new Error(`device code: ${answer.status} ${await answer.text()}`);
    return answer.json();
  };
  for (const decision of ['approve', 'deny']) {
    const code = await grant();
    run.at(`device entry (${decision})`);
    await page.goto(code.verification_uri_complete);
    await page.locator('#submit-code').waitFor({ state: 'visible' });
    const seen = { entry_preview: await textOf(page, '#grant-preview') };
    if (decision === 'approve') await shoot(page, 'device-entry');
    await page.locator('#submit-code').click();
    await page.locator(`#${decision}`).waitFor({ state: 'visible' });
    seen.confirm = {
      project: await textOf(page, '#project'),
      workspaces: await textOf(page, '#workspaces'),
      terms: await textOf(page, '#grant-terms'),
      buttons: await page.locator('#decision-form button').allInnerTexts(),
    };
    if (decision === 'approve') await shoot(page, 'device-confirm');
    await page.locator(`#${decision}`).click();
    await page.locator('#device-result').waitFor({ state: 'visible' });
    seen.done = { heading: await textOf(page, '#device-result'), text: await textOf(page, 'main') };
    await shoot(page, decision === 'approve' ? 'device-done' : 'device-denied');
    device[decision] = seen;
  }
  observed.device = device;

  Object.assign(observed, run.diagnostics(), { navigations: run.navigations });
  emit(observed);
});
