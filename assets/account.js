// The /account page (a person's API tokens) and the /account/service-tokens page (a project's
// service tokens, for its admins): lists, creates, revokes (and, for service tokens, rolls)
// them through the JSON API, with the session and its CSRF token.
//
// Served from this origin only (CSP `script-src 'self'`); it builds the DOM with textContent,
// never with HTML strings. A new token's plaintext lives in the DOM only, until the panel is
// dismissed or the page goes away: it is never written to any storage.
'use strict';

(function () {
  const meta = (name) => {
    const element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.getAttribute('content') || '' : '';
  };
  const csrfToken = meta('csrf-token');
  const project = meta('edgeauth-project');

  // What the page manages: a person's tokens in every project, or one project's service
  // tokens (every request names the project; a token can be rolled).
  const KINDS = {
    account: {
      path: '/api/tokens', listField: 'tokens', projectOnEveryRequest: false, rolls: false,
      columns: ['Name', 'Prefix', 'Project', 'Workspaces', 'Created', 'Last used', 'Expires', ''],
    },
    'service-tokens': {
      path: '/api/service-tokens', listField: 'service_tokens', projectOnEveryRequest: true, rolls: true,
      columns: ['Name', 'Prefix', 'Workspaces', 'Created', 'Last used', 'Expires', ''],
    },
  };
  const kind = KINDS[meta('edgeauth-page')] || KINDS.account;

  const el = (id) => document.getElementById(id);
  const ui = {
    message: el('message'),
    status: el('status'),
    form: el('create-form'),
    fields: el('create-fields'),
    name: el('token-name'),
    expiry: el('token-expiry'),
    expiryHint: el('token-expiry-hint'),
    workspaces: el('token-workspaces'),
    otherWorkspaces: el('token-other-workspaces'),
    create: el('create-token'),
    panel: el('new-token'),
    panelName: el('new-token-name'),
    value: el('new-token-value'),
    copy: el('copy-token'),
    copyStatus: el('copy-status'),
    dismiss: el('dismiss-token'),
    table: el('tokens'),
    tokensHeading: el('tokens-heading'),
  };
  if (!ui.table || !ui.form) return; // not the signed-in page

  // --- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // One request to the JSON API with the session cookie. Writes carry the CSRF token;
  // creation names the project (a token is bound to it), and so does every request about a
  // project's service tokens. Resolves to the parsed body (null
  // for 204); rejects with an ApiError carrying the server's `error` and `message`.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
    if ((method === 'POST' || kind.projectOnEveryRequest) && project) headers['X-Project'] = project;
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, 'network_error',
        'Could not reach the server. Check your connection and try again.');
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const code = data && typeof data.error === 'string' ? data.error : 'http_' + response.status;
      const message = data && typeof data.message === 'string'
        ? data.message
        : 'The server answered ' + response.status + ' ' + response.statusText + '.';
      throw new ApiError(response.status, code, message);
    }
    return data;
  }

  // --- messages ------------------------------------------------------------------------

  // What to do next, for the errors a person can fix by themselves.
  const NEXT_STEP = {
    unauthorized: 'Your session has ended: reload the page to sign in again.',
    csrf_rejected: 'Reload the page and try again.',
  };

  // A server message as the page shows it: its `code` spans as <code> (built as text nodes,
  // never as HTML), so no raw backtick reaches the person.
  function messageParagraph(message) {
    const paragraph = document.createElement('p');
    String(message).split('`').forEach((piece, i, pieces) => {
      // Odd pieces were between backticks, unless the last backtick had no pair.
      if (i % 2 === 1 && i < pieces.length - 1) {
        const code = document.createElement('code');
        code.textContent = piece;
        paragraph.append(code);
      } else {
        paragraph.append((i % 2 === 1 ? '`' : '') + piece);
      }
    });
    return paragraph;
  }

  function showError(error) {
    clearMessages();
    ui.message.append(messageParagraph(error.message));
    const next = NEXT_STEP[error.code] || (error.status === 401 ? NEXT_STEP.unauthorized : '');
    if (next) {
      const hint = document.createElement('p');
      hint.textContent = next;
      ui.message.append(hint);
    }
    if (error.code) {
      const code = document.createElement('p');
      code.className = 'error-code';
      code.textContent = 'Error code: ' + error.code;
      ui.message.append(code);
    }
    // Screen readers hear the alert; sighted readers far down the page need to see it.
    ui.message.scrollIntoView({ block: 'nearest' });
  }

  function announce(text) {
    ui.status.textContent = text;
  }

  function clearMessages() {
    ui.message.replaceChildren();
    ui.status.textContent = '';
  }

  // --- dates ---------------------------------------------------------------------------

  const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const longDayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
  const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

  // "3 hours ago", "yesterday", "2 months ago": for last use, which the server keeps only
  // approximately (to within a few minutes).
  function relative(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    const units = [['year', 31536000], ['month', 2592000], ['day', 86400], ['hour', 3600], ['minute', 60]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return 'just now';
  }

  // A <time> showing an RFC 3339 timestamp readably in the reader's locale and time zone
  // (a date, or with `asRelative` a distance from now), the full date and time on hover.
  function timeElement(iso, asRelative) {
    const time = document.createElement('time');
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) {
      time.textContent = String(iso);
      return time;
    }
    time.dateTime = iso;
    time.title = fullFormat.format(date);
    time.textContent = asRelative ? relative(date) : dayFormat.format(date);
    return time;
  }

  function isExpired(token) {
    if (token.expired === true) return true;
    return Boolean(token.expires_at) && Date.parse(token.expires_at) <= Date.now();
  }

  // --- the tokens table ----------------------------------------------------------------

  const COLUMNS = kind.columns;

  function cell(label, content, className) {
    const td = document.createElement('td');
    if (label) td.dataset.label = label;
    if (className) td.className = className;
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    return td;
  }

  function placeholderRow(text) {
    const row = document.createElement('tr');
    row.className = 'placeholder';
    const td = document.createElement('td');
    td.colSpan = COLUMNS.length;
    td.textContent = text;
    row.append(td);
    return row;
  }

  function tokenRow(token) {
    const row = document.createElement('tr');
    row.dataset.tokenId = token.id;
    const expired = isExpired(token);
    if (expired) row.classList.add('expired');

    const prefix = document.createElement('code');
    prefix.textContent = token.prefix + '…';

    let expires;
    if (!token.expires_at) {
      expires = 'never';
    } else if (expired) {
      expires = document.createElement('span');
      const badge = document.createElement('span');
      badge.className = 'badge badge-expired';
      badge.textContent = 'Expired';
      expires.append(badge, ' ', timeElement(token.expires_at));
    } else {
      expires = timeElement(token.expires_at);
    }

    const actions = document.createElement('span');
    actions.className = 'actions';
    if (kind.rolls && !expired) {
      const roll = document.createElement('button');
      roll.type = 'button';
      roll.className = 'button secondary small roll';
      roll.textContent = 'Roll';
      roll.setAttribute('aria-label', 'Roll ' + token.name);
      roll.addEventListener('click', () => rollToken(token, roll));
      actions.append(roll);
    }
    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.className = 'button danger small revoke';
    revoke.textContent = 'Revoke';
    revoke.setAttribute('aria-label', 'Revoke ' + token.name);
    revoke.addEventListener('click', () => revokeToken(token, revoke));
    actions.append(revoke);

    const cells = {
      Name: cell('Name', token.name, 'name'),
      Prefix: cell('Prefix', prefix),
      Project: cell('Project', token.project),
      Workspaces: cell('Workspaces', workspacesElement(token.workspaces), 'workspaces'),
      Created: cell('Created', token.created_at ? timeElement(token.created_at) : '—'),
      'Last used': cell('Last used', token.last_used_at ? timeElement(token.last_used_at, true) : 'never'),
      Expires: cell('Expires', expires),
      '': cell('', actions, 'row-actions'),
    };
    row.append(...COLUMNS.map((column) => cells[column]));
    return row;
  }

  // A token's workspace patterns as code chips; `*` said in words too.
  function workspacesElement(workspaces) {
    const list = document.createElement('span');
    list.className = 'workspace-list';
    for (const pattern of Array.isArray(workspaces) ? workspaces : []) {
      const code = document.createElement('code');
      code.textContent = pattern;
      if (pattern === '*') code.title = 'All workspaces';
      list.append(code, ' ');
    }
    return list;
  }

  async function loadTokens() {
    const body = ui.table.tBodies[0];
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', kind.path);
      const tokens = data && Array.isArray(data[kind.listField]) ? data[kind.listField] : [];
      if (tokens.length === 0) {
        body.replaceChildren(placeholderRow('No tokens yet. Create one above.'));
      } else {
        body.replaceChildren(...tokens.map(tokenRow));
      }
    } catch (error) {
      body.replaceChildren(placeholderRow('Your tokens could not be loaded.'));
      showError(error);
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  async function revokeToken(token, button) {
    const question = 'Revoke the token “' + token.name + '” (' + token.prefix + '…)?\n\n'
      + 'Anything using it stops working at once. This cannot be undone.';
    if (!window.confirm(question)) return;
    clearMessages();
    button.disabled = true;
    try {
      await api('DELETE', kind.path + '/' + encodeURIComponent(token.id));
      announce('Revoked “' + token.name + '”.');
    } catch (error) {
      if (error.status === 404) {
        announce('“' + token.name + '” was already revoked.');
      } else {
        button.disabled = false;
        showError(error);
        return;
      }
    }
    await loadTokens();
    // The focused button is gone with its row: keep the keyboard in the table's section.
    ui.tokensHeading.focus();
  }

  // A new secret for the token, shown once in the panel; the old one stops working at once.
  async function rollToken(token, button) {
    const question = 'Roll the token “' + token.name + '” (' + token.prefix + '…)?\n\n'
      + 'It gets a new secret, shown once; the old secret stops working at once.';
    if (!window.confirm(question)) return;
    clearMessages();
    forgetNewToken();
    button.disabled = true;
    let rolled;
    try {
      rolled = await api('POST', kind.path + '/' + encodeURIComponent(token.id) + '/roll', {});
    } catch (error) {
      button.disabled = false;
      showError(error);
      return;
    }
    showNewToken(rolled);
    announce('Rolled “' + rolled.name + '”: copy its new secret now.');
    await loadTokens();
  }

  // --- creating a token ----------------------------------------------------------------

  // The workspace patterns chosen: the ticked ones and those typed (comma-separated); `*`
  // alone when "All workspaces" is ticked.
  function chosenWorkspaces() {
    const ticked = Array.from(ui.workspaces.querySelectorAll('input[name="workspace"]:checked'))
      .map((box) => box.value);
    if (ticked.includes('*')) return ['*'];
    const typed = ui.otherWorkspaces.value.split(',').map((p) => p.trim()).filter(Boolean);
    return Array.from(new Set(ticked.concat(typed)));
  }

  // When this sign-in ends: no token made on this page outlives it.
  function sessionEnds() {
    const meta = document.querySelector('meta[name="edgeauth-session-ends"]');
    const at = meta ? new Date(meta.content) : null;
    return at && !Number.isNaN(at.getTime()) ? at : null;
  }

  function describeExpiry() {
    const ends = sessionEnds();
    const days = Number(ui.expiry.value);
    const asked = days ? new Date(Date.now() + days * 24 * 60 * 60 * 1000) : null;
    const until = asked && (!ends || asked < ends) ? asked : ends;
    // "Never" is no date of the token's own; the project's lifetime policy may still set one.
    const never = days ? '' : 'No expiry date of its own (unless the project\'s lifetime policy sets one). ';
    if (!until) {
      ui.expiryHint.textContent = never + 'It ends when you sign out.';
      return;
    }
    ui.expiryHint.textContent = never
      + 'It ends when you sign out, or on ' + longDayFormat.format(until) + ' at the latest.';
  }

  function showNewToken(created) {
    ui.panelName.textContent = '“' + created.name + '”';
    ui.value.textContent = created.token;
    ui.copyStatus.textContent = '';
    ui.copy.textContent = 'Copy';
    ui.panel.hidden = false;
    ui.panel.scrollIntoView({ block: 'nearest' });
    ui.panel.focus();
  }

  // Takes the plaintext out of the DOM.
  function forgetNewToken() {
    ui.value.textContent = '';
    ui.panelName.textContent = '';
    ui.copyStatus.textContent = '';
    ui.panel.hidden = true;
  }

  async function createToken(event) {
    event.preventDefault();
    clearMessages();
    const name = ui.name.value.trim();
    if (!name) {
      ui.name.setAttribute('aria-invalid', 'true');
      showError({ message: 'Give the token a name, e.g. “laptop”.', code: '' });
      ui.name.focus();
      return;
    }
    ui.name.removeAttribute('aria-invalid');
    const workspaces = chosenWorkspaces();
    if (workspaces.length === 0) {
      showError({ message: 'Choose the workspaces the token may act on, or tick “All workspaces”.', code: '' });
      ui.otherWorkspaces.focus();
      return;
    }
    const body = { name, workspaces };
    const days = Number(ui.expiry.value);
    if (days) body.expires_in_days = days;

    forgetNewToken();
    ui.create.disabled = true;
    ui.create.textContent = 'Creating…';
    let created;
    try {
      created = await api('POST', kind.path, body);
    } catch (error) {
      showError(error);
      ui.name.focus();
      return;
    } finally {
      ui.create.disabled = false;
      ui.create.textContent = 'Create token';
    }
    ui.name.value = '';
    showNewToken(created);
    announce('Created “' + created.name + '”.');
    await loadTokens();
  }

  function selectTokenText() {
    const selection = window.getSelection();
    selection.removeAllRanges();
    const range = document.createRange();
    range.selectNodeContents(ui.value);
    selection.addRange(range);
  }

  async function copyToken() {
    const value = ui.value.textContent;
    if (!value) return;
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(value);
        copied = true;
      } catch (_) {
        copied = false;
      }
    }
    if (!copied) {
      selectTokenText();
      try {
        copied = document.execCommand('copy');
      } catch (_) {
        copied = false;
      }
    }
    if (copied) {
      ui.copy.textContent = 'Copied';
      ui.copyStatus.textContent = 'Copied to the clipboard.';
    } else {
      selectTokenText();
      ui.copyStatus.textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
    }
  }

  // --- sessions and device logins ---------------------------------------------------------

  // The list is the server's (rendered with the page); signing out is a request, then the
  // row goes. A login already gone (404) is gone all the same.
  const loginsStatus = el('logins-status');
  const loginsHeading = el('logins-heading');

  async function endLogin(button) {
    const id = button.getAttribute('data-login');
    if (!window.confirm('Sign this out? It ends at once, with every token made with it.')) return;
    clearMessages();
    button.disabled = true;
    try {
      await api('DELETE', '/api/sessions/' + encodeURIComponent(id));
    } catch (error) {
      if (error.status !== 404) {
        button.disabled = false;
        showError(error);
        return;
      }
    }
    const row = button.closest('tr');
    if (row) row.remove();
    loginsStatus.textContent = 'Signed out.';
    loginsHeading.focus();
  }

  async function endOtherLogins(button) {
    if (!window.confirm('Sign out everywhere else? Every other session and device login ends at once.')) return;
    clearMessages();
    button.disabled = true;
    let ended;
    try {
      ended = await api('DELETE', '/api/sessions?except_current=true');
    } catch (error) {
      button.disabled = false;
      showError(error);
      return;
    }
    document.querySelectorAll('button.end-login').forEach((other) => {
      const row = other.closest('tr');
      if (row) row.remove();
    });
    button.hidden = true;
    loginsStatus.textContent = 'Signed out everywhere else (' + ended.ended + ').';
    loginsHeading.focus();
  }

  // --- wiring ----------------------------------------------------------------------------

  ui.form.addEventListener('submit', createToken);
  ui.name.addEventListener('input', () => ui.name.removeAttribute('aria-invalid'));
  ui.expiry.addEventListener('change', describeExpiry);
  // Ticking "All workspaces" unticks the others, and ticking another unticks it.
  ui.workspaces.addEventListener('change', (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'checkbox' || !box.checked) return;
    ui.workspaces.querySelectorAll('input[name="workspace"]').forEach((other) => {
      if (other !== box && (box.value === '*' || other.value === '*')) other.checked = false;
    });
  });
  ui.otherWorkspaces.addEventListener('input', () => {
    if (!ui.otherWorkspaces.value.trim()) return;
    const all = ui.workspaces.querySelector('input[value="*"]');
    if (all) all.checked = false;
  });
  ui.copy.addEventListener('click', copyToken);
  document.querySelectorAll('button.end-login').forEach((button) => {
    button.addEventListener('click', () => endLogin(button));
  });
  const endOthers = el('end-other-logins');
  if (endOthers) endOthers.addEventListener('click', () => endOtherLogins(endOthers));
  ui.dismiss.addEventListener('click', () => {
    forgetNewToken();
    ui.name.focus();
  });
  // Leaving the page (including into the back/forward cache) drops the plaintext.
  window.addEventListener('pagehide', forgetNewToken);

  // The end of this sign-in, shown as a day rather than as RFC 3339.
  const endsAt = document.querySelector('#session-rule time');
  if (endsAt && sessionEnds()) endsAt.textContent = longDayFormat.format(sessionEnds());
  describeExpiry();
  ui.fields.disabled = false;
  loadTokens();
})();
