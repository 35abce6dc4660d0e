// People the Worker must refuse at sign-in, as they see it: the identity provider accepts
// their password, the Worker answers its error page. Run by tests/e2e/tests/browser.rs;
// settings in lib.mjs.
//
// EDGEAUTH_BROWSER_REFUSED: comma-separated user:password pairs to try, each in a fresh
// browser context (default outsider:outsider-password,unverified:unverified-password).
//
// stdout: one line {"phase": "refused", "people": [{user, status, error_code, …}, …]}.

import { cookieFlags, emit, pageFetch, scenario, signIn } from './lib.mjs';

await scenario('refused', async (run, cfg) => {
  const pairs = (process.env.EDGEAUTH_BROWSER_REFUSED || 'outsider:outsider-password,unverified:unverified-password')
    .split(',')
    .map((pair) => pair.split(':'));
  const observed = { phase: 'refused', people: [] };
  for (const [user, password] of pairs) {
    const page = await run.newPage();
    const navigationsBefore = run.navigations.length;
    const seen = { user, sign_in: await signIn(run, page, cfg, { user, password, expectAccount: false }) };
    run.at(`read the error page shown to ${user}`);
    await page.locator('#error-code').waitFor({ state: 'visible' });
    const landed = run.navigations.slice(navigationsBefore).filter((n) => n.url.startsWith(cfg.base)).pop();
    seen.landed = landed || null;
    seen.error_code = (await page.locator('#error-code').innerText()).trim();
    seen.error_message = (await page.locator('#error-message').innerText()).trim();
    seen.title = await page.title();
    seen.links = await page.$$eval('a[href]', (links) =>
      links.map((a) => ({ text: a.textContent.trim(), path: new URL(a.href).pathname })),
    );
    seen.cookies = await cookieFlags(page.context(), cfg);
    seen.users_me_status = (await pageFetch(page, '/api/users/me')).status;
    run.at(`open /account as ${user} after the refusal`);
    await page.goto(`${cfg.base}/account`);
    seen.account_after = {
      signin_visible: await page.locator('#signin').isVisible(),
      identity_present: (await page.locator('#identity').count()) > 0,
    };
    observed.people.push(seen);
    await page.context().close();
  }
  Object.assign(observed, run.diagnostics(), { navigations: run.navigations });
  emit(observed);
});
