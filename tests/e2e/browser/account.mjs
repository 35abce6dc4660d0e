// A person on /account: signs in through the identity provider, creates tokens (the first by
// keyboard alone), copies one, reloads, and later (when the test says so on stdin) revokes one
// and signs out. Run by tests/e2e/tests/browser.rs; settings in lib.mjs.
//
// stdout, one JSON line per phase:
//   {"phase": "created", ...}     signed in, two tokens created, copied, page reloaded,
//                                 screenshots taken (when EDGEAUTH_SCREENSHOTS_DIR is set)
// then, for each command read from stdin:
//   {"do": "revoke", "token_id": "ut_…", "confirm": true|false}  -> {"phase": "revoke", ...}
//   {"do": "end_login", "id": "fam_…"}                         -> {"phase": "end_login", ...}
//                                 (reloads first, to list it; signs it out from its row)
//   {"do": "signout"}                                          -> {"phase": "signout", ...}
//   {"do": "quit"}                                             -> exits 0
//
// EDGEAUTH_BROWSER_TOKEN_NAMES (optional): the two token names, comma-separated.

import {
  cookieFlags,
  createTokenByKeyboard,
  DESKTOP,
  emit,
  pageFetch,
  scenario,
  screenshot,
  shownValue,
  signIn,
  tokenRows,
  waitForNewToken,
} from './lib.mjs';


await scenario('account', async (run, cfg) => {
  const [firstName, secondName] = (process.env.EDGEAUTH_BROWSER_TOKEN_NAMES || 'laptop,ci-nightly').split(',');
  const page = await run.newPage({ viewport: DESKTOP });
  const context = page.context();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cfg.origin });

  const observed = { phase: 'created' };
  observed.sign_in = await signIn(run, page, cfg);

  run.at('read the signed-in page');
  observed.identity_text = (await page.locator('#identity').innerText()).replace(/\s+/g, ' ').trim();
  observed.cookies = await cookieFlags(context, cfg);
  observed.csrf_meta_present = (await page.locator('meta[name="csrf-token"]').count()) === 1;
  observed.signout = await page.locator('#signout').evaluate((button) => ({
    tag: button.tagName.toLowerCase(),
    text: button.textContent.trim(),
    form_method: button.form ? button.form.method : null,
    form_action: button.form ? new URL(button.form.action).pathname : null,
    form_has_csrf_token: button.form ? !!button.form.querySelector('input[name="csrf_token"]') : false,
  }));
  observed.form = await page.evaluate(() => {
    const labelled = (selector) => {
      const el = document.querySelector(selector);
      if (!el) return null;
      return (el.labels && el.labels.length > 0) || el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby');
    };
    const expiry = document.querySelector('#token-expiry');
    const message = document.querySelector('#message');
    return {
      token_name_labelled: labelled('#token-name'),
      token_expiry_labelled: labelled('#token-expiry'),
      expiry_options: expiry ? [...expiry.options].map((o) => ({ value: o.value, label: o.textContent.trim() })) : null,
      expiry_default: expiry ? expiry.value : null,
      message_live: message ? message.getAttribute('role') === 'alert' || message.hasAttribute('aria-live') : null,
    };
  });
  observed.rows_before = await tokenRows(page);

  // First token: keyboard only, with whatever expiry the form offers by default.
  const first = { name: firstName, expiry_option: observed.form.expiry_default };
  first.token = await createTokenByKeyboard(run, page, firstName);
  first.focus_after = await page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.tagName));
  first.rows_after = await tokenRows(page);
  first.name_field_after = await page.locator('#token-name').inputValue();

  run.at('copy the new token');
  await page.locator('#copy-token').click();
  first.clipboard = await page
    .evaluate(async () => {
      try {
        return { text: await navigator.clipboard.readText() };
      } catch (error) {
        return { error: String(error) };
      }
    })
    .then((read) => ({ matches: read.text === first.token, error: read.error || null }));
  first.copy_button_text = (await page.locator('#copy-token').innerText()).trim();
  first.message_after_copy = (await page.locator('#message').innerText().catch(() => '')).trim();

  // Second token: the mouse, a 1-day expiry, and one workspace typed (which unticks "All").
  run.at(`create token ${secondName} with a 1-day expiry for docs/*`);
  const second = { name: secondName, expiry_option: '1', workspaces: 'docs/*' };
  await page.locator('#token-name').fill(secondName);
  await page.locator('#token-expiry').selectOption('1');
  await page.locator('#token-other-workspaces').fill(second.workspaces);
  await page.locator('#create-token').click();
  second.token = await waitForNewToken(page, first.token);
  second.rows_after = await tokenRows(page);
  observed.tokens = [first, second];

  run.at('reload');
  await page.reload();
  await page.locator('#identity').waitFor({ state: 'visible' });
  const content = await page.content();
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  observed.after_reload = {
    new_token_present: (await page.locator('#new-token').count()) > 0,
    new_token_visible: await page.locator('#new-token').isVisible(),
    new_token_value_text: (await page.locator('#new-token-value').count()) > 0 ? await shownValue(page.locator('#new-token-value')) : null,
    plaintext_in_content: observed.tokens.some((t) => content.includes(t.token)),
    plaintext_in_storage: observed.tokens.some((t) => storage.includes(t.token)),
    rows: await tokenRows(page),
  };

  // The whole page at phone width: the tokens table lies below the first screen.
  const shot = await screenshot(run, page, cfg, 'account');
  if (shot) {
    observed.phone = { scroll_width: shot.phone_width };
    observed.screenshots = { desktop: shot.desktop, phone: shot.phone };
  }

  Object.assign(observed, run.diagnostics(), { navigations: run.navigations });
  emit(observed);

  for (;;) {
    run.at('wait for a command from the test');
    const command = await run.command();
    if (command.do === 'quit') return;
    if (command.do === 'revoke') {
      run.at(`revoke ${command.token_id} (${command.confirm ? 'confirm' : 'cancel'})`);
      const row = page.locator(`#tokens tr[data-token-id="${command.token_id}"]`);
      const dialogsBefore = run.dialogs.length;
      run.answerNextDialog(command.confirm ? 'accept' : 'dismiss');
      await row.locator('.revoke').click();
      if (command.confirm) {
        await row.waitFor({ state: 'detached' });
      } else {
        // Nothing should happen; give a wrongly sent request time to land.
        await page.waitForTimeout(750);
      }
      const result = {
        phase: 'revoke',
        token_id: command.token_id,
        dialogs: run.dialogs.slice(dialogsBefore),
        row_present: (await row.count()) > 0,
        message: (await page.locator('#message').innerText().catch(() => '')).trim(),
        rows: await tokenRows(page),
      };
      run.at('reload after revoking');
      await page.reload();
      await page.locator('#identity').waitFor({ state: 'visible' });
      // The table is filled by the page's script after load: wait until it has been.
      await page.waitForFunction(() => {
        const body = document.querySelector('#tokens tbody');
        return body && !body.hasAttribute('aria-busy') && !body.textContent.includes('Loading');
      });
      result.row_present_after_reload = (await row.count()) > 0;
      result.rows_after_reload = await tokenRows(page);
      emit({ ...result, ...run.diagnostics() });
    } else if (command.do === 'end_login') {
      run.at(`sign out login ${command.id} from its row`);
      await page.reload();
      await page.locator('#identity').waitFor({ state: 'visible' });
      const row = page.locator(`#logins tr[data-login="${command.id}"]`);
      const result = {
        phase: 'end_login',
        id: command.id,
        listed_before: (await row.count()) > 0,
        current_rows: await page.locator('#logins tr:has(.chip)').count(),
        current_has_button: (await page.locator('#logins tr:has(.chip) button').count()) > 0,
      };
      const dialogsBefore = run.dialogs.length;
      run.answerNextDialog('accept');
      await row.locator('button.end-login').click();
      await row.waitFor({ state: 'detached' });
      result.dialogs = run.dialogs.slice(dialogsBefore);
      result.status = (await page.locator('#logins-status').innerText().catch(() => '')).trim();
      result.message = (await page.locator('#message').innerText().catch(() => '')).trim();
      run.at('reload after signing a login out');
      await page.reload();
      await page.locator('#identity').waitFor({ state: 'visible' });
      result.row_present_after_reload = (await row.count()) > 0;
      emit({ ...result, ...run.diagnostics() });
    } else if (command.do === 'signout') {
      run.at('sign out');
      const posted = page.waitForResponse(
        (r) => r.url() === `${cfg.base}/api/auth/logout` && r.request().method() === 'POST',
      );
      await page.locator('#signout').click();
      const answer = await posted;
      const sent = await answer.request().allHeaders();
      await page.waitForLoadState('load');
      // Signing out goes on to the provider's end-session page, which asks to confirm, then
      // comes back to /account.
      let provider = null;
      if (new URL(page.url()).origin !== new URL(cfg.base).origin) {
        run.at('confirm the sign-out at the provider');
        provider = {
          url: page.url(),
          heading: await page.locator('h1').first().textContent(),
        };
        await Promise.all([
          page.waitForURL(`${cfg.base}/account`),
          page.locator('button[name="logout"][value="yes"]').click(),
        ]);
        await page.waitForLoadState('load');
      }
      const result = {
        phase: 'signout',
        provider,
        logout: {
          status: answer.status(),
          location: await answer.headerValue('location'),
          origin_sent: sent.origin ?? null,
          body: answer.status() >= 400 ? await answer.text().catch(() => null) : null,
        },
        signin_visible: await page.locator('#signin').isVisible(),
        path: new URL(page.url()).pathname,
        identity_present: (await page.locator('#identity').count()) > 0,
        tokens_present: (await page.locator('#tokens').count()) > 0,
        cookies: await cookieFlags(context, cfg),
        users_me_status: (await pageFetch(page, '/api/users/me')).status,
      };
      run.at('go back after signing out');
      await page.goBack({ waitUntil: 'load' }).catch(() => null);
      result.back = {
        path: new URL(page.url()).pathname,
        identity_present: (await page.locator('#identity').count()) > 0,
        tokens_rows: (await tokenRows(page)).length,
      };
      emit({ ...result, ...run.diagnostics(), navigations: run.navigations });
    } else {
      throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  }
});
