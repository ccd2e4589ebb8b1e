import { versionedHref } from '../http/asset-href'
/**
 * The console's only stylesheet and script, embedded in the binary (no CDN, no web fonts: it
 * works air-gapped). Served from /console/assets/ because the CSP forbids inline code.
 */
export const CSS = `
/* --control: the border of a text field or select, 3:1 or more against the page (WCAG 1.4.11); --line, lighter, only separates. */
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--control:#6e7781;--accent:#0550ae;--on-accent:#fff;--bad:#b3261e;--ok:#116329;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#30363d;--control:#6e7681;--accent:#4493f8;--on-accent:#0d1117;--bad:#f85149;--ok:#3fb950;--card:#161b22}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
header .brand{font-weight:700;margin-right:auto}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
nav a[aria-current=page]{font-weight:700;text-decoration:none}
nav.subnav{margin:0 0 1rem;padding-bottom:.5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
/* A word wider than the window (the CLI approval's login code) breaks rather than make the page scroll sideways at 320 px (WCAG 1.4.10); tables keep their widths and scroll in .table-wrap. */
main{max-width:64rem;margin:0 auto;padding:1rem;overflow-wrap:break-word}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
form.stack{display:grid;gap:.75rem;max-width:28rem}
form.stack>*,fieldset{min-width:0}
label{display:grid;gap:.25rem;font-weight:600}
fieldset{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
legend{font-weight:600;padding:0 .25rem}
input,select,button{font:inherit;color:inherit}
/* Radio buttons and check boxes of 20 px with 2 px around: a target of at least 24 px (WCAG 2.5.8), where the browser's 13 px boxes, a line apart, were not. */
input[type=radio],input[type=checkbox]{width:1.25rem;height:1.25rem;margin:.125rem;flex:none}
input[type=text],input[type=email],input[type=password],input[type=date],input[type=number],select{width:100%;padding:.45rem .5rem;border:1px solid var(--control);border-radius:6px;background:var(--bg)}
button,.button{display:inline-block;padding:.45rem .9rem;border:1px solid var(--line);border-radius:6px;background:var(--card);cursor:pointer;text-decoration:none;color:var(--fg)}
/* Copy buttons are hidden until console.js shows them: the rule above must not show them without it. */
[hidden]{display:none!important}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}
button.danger{color:var(--bad)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.error{color:var(--bad);border:1px solid var(--bad);border-radius:6px;padding:.5rem .75rem}
.notice{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.5rem .75rem;background:var(--card)}
.warning{border-left-color:#bf8700}
.muted{color:var(--muted)}
.table-wrap{overflow-x:auto;position:relative}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.token{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.token output{font-family:ui-monospace,monospace;padding:.4rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--card);word-break:break-all}
.status-active{color:var(--ok)}.status-expired,.status-revoked{color:var(--bad)}
.inline{display:inline}
.icon{background:none;border:1px solid transparent;padding:.2rem .4rem}
dialog{max-width:32rem;border:1px solid var(--line);border-radius:8px;color:var(--fg);background:var(--bg)}
dialog::backdrop{background:rgb(0 0 0/.4)}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
.skip{position:absolute;left:-9999px;top:0}.skip:focus{left:.5rem;top:.5rem;z-index:10;padding:.5rem .75rem;background:var(--bg);border:1px solid var(--line);border-radius:6px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
textarea{font:inherit;color:inherit;width:100%;min-height:6rem;padding:.45rem .5rem;border:1px solid var(--control);border-radius:6px;background:var(--bg);resize:vertical}
form.chat-form{display:grid;gap:.5rem;max-width:48rem;margin:1rem 0}
ol.chat{list-style:none;margin:0 0 1rem;padding:0;display:grid;gap:.75rem;max-width:48rem}
ol.chat>li{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
ol.chat>li.user{background:var(--card)}
ol.chat .who{font-weight:600;margin-right:.5rem}
ol.chat .text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.25rem 0 0}
.live:not(:empty){border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.5rem .75rem;background:var(--card)}
.status-working{color:var(--accent)}.status-done{color:var(--ok)}.status-error,.status-standby{color:var(--bad)}
`

/**
 * Local dates, copy buttons (a copy is announced; a refused one is said, and the text selected for a copy by hand), <dialog> confirms for forms marked data-confirm, and links marked
 * data-back that go back in the browser's history (to a refused form, with what was typed in it),
 * date fields that tick their choice (data-choose), the focus on a form's error, a page
 * restored by Back from the back/forward cache asked from the server again, and an Approve sent
 * only from a page in front for a second (data-deliberate). Pages work without it.
 */
export const JS = `
document.querySelectorAll('time[datetime]').forEach(function (t) {
  var d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
});
document.querySelectorAll('button[data-copy]').forEach(function (b) {
  b.hidden = false;
  var status = document.getElementById(b.getAttribute('data-status'));
  var label = b.textContent;
  b.addEventListener('click', function () {
    var el = document.getElementById(b.getAttribute('data-copy'));
    // Copied: the button says so, and so does the status line (a polite live region: a screen
    // reader announces it), for screen readers only beside the button's word. Emptied first, so
    // that a second copy is announced again.
    var copied = function () {
      var word = b.getAttribute('data-copied') || 'Copied';
      b.textContent = word;
      if (!status) return;
      status.classList.add('sr-only');
      status.textContent = '';
      setTimeout(function () { if (b.textContent === word) status.textContent = word; }, 100);
    };
    // The browser refused (no permission, not a secure context, no Clipboard API): say so and
    // select the text, for a copy by hand.
    var failed = function () {
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.textContent = b.getAttribute('data-text-failed') || label;
      if (status) {
        status.classList.remove('sr-only');
        status.textContent = status.getAttribute('data-text-failed') || '';
      }
    };
    try {
      navigator.clipboard.writeText(el.textContent.trim()).then(copied, failed);
    } catch (e) {
      failed();
    }
  });
});
// A form's error takes the focus (its autofocus is not applied when the URL names a section, #…);
// where there is none, what the form did (a notice: a token revoked, the new token's warning).
// After the load: going to the section's fragment (#…) takes the focus away again.
var formError = document.querySelector('p.error[role=alert][tabindex]') || document.querySelector('p.notice[role=status][tabindex]');
if (formError) addEventListener('load', function () {
  setTimeout(function () {
    if (!document.activeElement || document.activeElement === document.body) formError.focus();
  }, 0);
});
document.querySelectorAll('a[data-back]').forEach(function (a) {
  a.addEventListener('click', function (e) {
    if (history.length < 2) return;
    e.preventDefault();
    history.back();
  });
});
// A date typed into a field marked data-choose ticks the choice it belongs to ("Custom date");
// another choice of the same group empties the field, so what is sent is what is shown.
document.querySelectorAll('input[data-choose]').forEach(function (d) {
  var own = document.getElementById(d.getAttribute('data-choose'));
  if (!own || !own.form) return;
  var pick = function () { if (d.value) own.checked = true; };
  d.addEventListener('input', pick);
  d.addEventListener('change', pick);
  own.form.querySelectorAll('input[type=radio]').forEach(function (r) {
    if (r.name !== own.name || r === own) return;
    r.addEventListener('change', function () { if (r.checked) d.value = ''; });
  });
});
// Chromium keeps pages in its back/forward cache even with Cache-Control: no-store: Back after
// signing out showed Settings → Profile as it was left (the e-mail, the sessions' addresses, the
// tokens) to whoever used the browser next. Hidden as it is left; shown again from that cache only
// once the server still answers its address with the page. Sent elsewhere instead (the sign-in
// page: its session ended), it is reloaded, and the browser shows what the server says now. A page
// still signed in keeps what was typed into it (links marked data-back rely on that).
addEventListener('pagehide', function (e) {
  if (e.persisted) document.documentElement.style.visibility = 'hidden';
});
addEventListener('pageshow', function (e) {
  if (!e.persisted) return;
  var show = function () { document.documentElement.style.visibility = ''; };
  fetch(location.pathname + location.search, { redirect: 'manual', cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
    if (r.type === 'opaqueredirect' || r.status === 401 || r.status === 403) location.reload();
    else show();
  }, show);
});
// Double-clickjacking: another site asks for a double-click and, at its first click, closes its
// window or sends this tab to a console page, so that the second click lands on that page's
// button (frame-ancestors cannot stop it: nothing is framed). A form marked data-deliberate (the
// CLI sign-in's Approve, which hands a terminal tokens for 90 days) is not sent by its button
// named approve until the page has been in front (visible, its window focused) for a second; the
// form is marked data-ready from then on. Sooner, the element the attribute names says why, and
// the person presses again. Deny and the other buttons go at once.
document.querySelectorAll('form[data-deliberate]').forEach(function (f) {
  var timer;
  var disarm = function () { clearTimeout(timer); f.removeAttribute('data-ready'); };
  var arm = function () {
    disarm();
    if (document.visibilityState === 'visible') timer = setTimeout(function () { f.setAttribute('data-ready', ''); }, 1000);
  };
  arm();
  addEventListener('focus', arm);
  addEventListener('blur', disarm);
  addEventListener('pageshow', arm);
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'visible') arm(); else disarm(); });
  f.addEventListener('submit', function (e) {
    if (f.hasAttribute('data-ready') || !e.submitter || e.submitter.value !== 'approve') return;
    e.preventDefault();
    var said = document.getElementById(f.getAttribute('data-deliberate'));
    if (said) {
      said.textContent = f.getAttribute('data-text-early') || '';
      said.hidden = false;
    }
  });
});
document.querySelectorAll('form[data-confirm]').forEach(function (f) {
  f.addEventListener('submit', function (e) {
    var d = document.getElementById(f.getAttribute('data-confirm'));
    if (!d || !d.showModal) return;
    e.preventDefault();
    d.returnValue = '';
    d.showModal();
    // submit() sends the form without a submit event: nothing marks it confirmed, so the page
    // Back shows from the bfcache asks again (a mark made the same icon post at once there).
    d.addEventListener('close', function () {
      if (d.returnValue === 'confirm') f.submit();
    }, { once: true });
  });
});
`

/**
 * An agent's chat page (/agents/{id}/chat): while a turn runs (an element with data-refresh, its
 * seconds, and data-version, the chat's version), the page asks itself again with that version
 * (X-Chat-Version): a 204 while nothing changed; the whole page once it did, whose conversation
 * and chat list are swapped in, until no turn runs; the message being typed stays, and so does
 * the focus on an element of a swapped part (the same element of the new part). What happens
 * is said in #chat-status (role=status, outside the swapped part), in the texts the page gives it
 * (data-text-*, its language): the answer arrived; the session ended (the poll was sent to the
 * sign-in page, the status's data-href: `/login`, under a sub-path `/teamday/login`; a link to
 * sign in again, and it stops); 429, 5xx and network errors: it says it
 * retries, after 2, 4, 8, 16 then every 30 seconds; 404 (the chat or its agent gone): it says so
 * and stops. Without it the page refreshes itself (a <noscript> meta refresh). A sent form's
 * button is disabled, so that one click starts one turn.
 */
export const CHAT_JS = `
document.querySelectorAll('form.chat-form').forEach(function (f) {
  f.addEventListener('submit', function () {
    var b = f.querySelector('button[type=submit]');
    if (b) setTimeout(function () { b.disabled = true; }, 0);
  });
});
(function () {
  var live = document.querySelector('[data-refresh]');
  var status = document.getElementById('chat-status');
  if (!live || !status || !window.fetch || !window.DOMParser) return;
  var every = (Number(live.getAttribute('data-refresh')) || 2) * 1000;
  var version = live.getAttribute('data-version') || '';
  var failures = 0;
  var text = function (k) { return status.getAttribute('data-text-' + k) || ''; };
  var signIn = new URL(status.getAttribute('data-href') || '/login', location.href).pathname;
  var say = function (k, link) {
    status.textContent = k ? text(k) : '';
    status.setAttribute('data-state', k || '');
    if (link) {
      var a = document.createElement('a');
      a.href = link;
      a.textContent = text('sign-in');
      status.appendChild(document.createTextNode(' '));
      status.appendChild(a);
    }
  };
  var stop = function (k, link) {
    var running = document.querySelector('[data-refresh]');
    if (running) running.remove();
    say(k, link);
  };
  var retry = function () {
    say('retrying');
    setTimeout(tick, Math.min(every * Math.pow(2, failures), 30000));
    failures++;
  };
  var answered = function () {
    failures = 0;
    if (status.getAttribute('data-state') === 'retrying') say('');
  };
  var local = function (root) {
    root.querySelectorAll('time[datetime]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    });
  };
  // The focus inside a part that is swapped (a link of the chat list) goes to the same element
  // of the new part (by id, else link target, else position): it fell to the page's body.
  var FOCUSABLE = 'a[href],button,input,select,textarea,[tabindex]';
  var focusIn = function (root) {
    var a = document.activeElement;
    if (!a || a === document.body || !root.contains(a)) return null;
    return { id: a.id, href: a.getAttribute('href'), index: Array.prototype.indexOf.call(root.querySelectorAll(FOCUSABLE), a) };
  };
  var refocus = function (root, k) {
    if (!k) return;
    var el = k.id ? root.querySelector('#' + CSS.escape(k.id)) : null;
    if (!el && k.href !== null) el = Array.prototype.find.call(root.querySelectorAll('a[href]'), function (x) { return x.getAttribute('href') === k.href; });
    if (!el && k.index >= 0) el = root.querySelectorAll(FOCUSABLE)[k.index];
    if (el) el.focus({ preventScroll: true });
  };
  var swap = function (html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    ['conversation', 'chats'].forEach(function (id) {
      var now = document.getElementById(id), next = doc.getElementById(id);
      if (now && next) { var k = focusIn(now), n = document.importNode(next, true); now.replaceWith(n); local(n); refocus(n, k); }
    });
    var still = doc.querySelector('[data-refresh]');
    if (still) { version = still.getAttribute('data-version') || ''; setTimeout(tick, every); }
    else say('answered');
  };
  var tick = function () {
    var headers = { accept: 'text/html' };
    headers['x-chat-version'] = version;
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store', headers: headers })
      .then(function (r) {
        var to = new URL(r.url, location.href);
        if (r.redirected && to.pathname === signIn) return stop('ended', to.pathname + to.search);
        if (r.status === 204) { answered(); setTimeout(tick, every); return; }
        if (r.status === 404) return stop('gone');
        if (r.status === 429 || r.status >= 500) return retry();
        if (!r.ok) return stop('failed');
        return r.text().then(function (html) { answered(); swap(html); });
      })
      .catch(retry);
  };
  setTimeout(tick, every);
})();
`

/**
 * The icon browsers ask for at /favicon.ico on every console and Swagger UI page (a 404 there
 * is an error in every page's console): a 32×32 PNG, a white T on blue, in an ICO container.
 */
export const FAVICON = Buffer.from(
  'AAABAAEAICAAAAEAIACXAAAAFgAAAIlQTkcNChoKAAAADUlIRFIAAAAgAAAAIAgGAAAAc3p69AAAAF5JREFUeNpjYMABVJNf/6cmZiAGUNtSkhxDL8uxOoLelmM4YmQ7YKAshzsCnyS1wKgDRh1AtgNIcRxNcsGoA0YdMOqAUQeMOmDUAXRxwGireFA4YMC7ZoOiczpQ3XMAeiUgW9lBH5AAAAAASUVORK5CYII=',
  'base64',
)

/**
 * The console's files, as the console serves them (src/console/routes/auth.tsx registers one
 * route per entry). They are not pages: an error on one of these paths is answered as the
 * API's (JSON), not as a console page (src/console/error-pages.tsx).
 */
export const ASSETS: readonly { path: string; body: string | Buffer; type: string; maxAge: number }[] = [
  { path: '/console/assets/console.css', body: CSS, type: 'text/css; charset=utf-8', maxAge: 3600 },
  { path: '/console/assets/console.js', body: JS, type: 'text/javascript; charset=utf-8', maxAge: 3600 },
  { path: '/console/assets/chat.js', body: CHAT_JS, type: 'text/javascript; charset=utf-8', maxAge: 3600 },
  { path: '/favicon.ico', body: FAVICON, type: 'image/x-icon', maxAge: 86400 },
]

/** Each asset's versioned address, by path (made once). */
export const ASSET_HREF: Readonly<Record<string, string>> = Object.fromEntries(ASSETS.map((a) => [a.path, versionedHref(a.path, a.body)]))
