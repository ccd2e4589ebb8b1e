/**
 * The console's only stylesheet and script, embedded in the binary (no CDN, no web fonts: it
 * works air-gapped). Served from /console/assets/ because the CSP forbids inline code.
 */
export const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--accent:#0550ae;--bad:#b3261e;--ok:#116329;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#30363d;--accent:#4493f8;--bad:#f85149;--ok:#3fb950;--card:#161b22}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
header .brand{font-weight:700;margin-right:auto}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
nav a[aria-current=page]{font-weight:700;text-decoration:none}
nav.subnav{margin:0 0 1rem;padding-bottom:.5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
form.stack{display:grid;gap:.75rem;max-width:28rem}
label{display:grid;gap:.25rem;font-weight:600}
fieldset{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
legend{font-weight:600;padding:0 .25rem}
input,select,button{font:inherit;color:inherit}
input[type=text],input[type=email],input[type=password],input[type=date],input[type=number],select{width:100%;padding:.45rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
button,.button{display:inline-block;padding:.45rem .9rem;border:1px solid var(--line);border-radius:6px;background:var(--card);cursor:pointer;text-decoration:none;color:var(--fg)}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--bad)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.error{color:var(--bad);border:1px solid var(--bad);border-radius:6px;padding:.5rem .75rem}
.notice{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.5rem .75rem;background:var(--card)}
.warning{border-left-color:#bf8700}
.muted{color:var(--muted)}
.table-wrap{overflow-x:auto}
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
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`

/** Local dates, copy buttons, and <dialog> confirms for forms marked data-confirm. Pages work without it. */
export const JS = `
document.querySelectorAll('time[datetime]').forEach(function (t) {
  var d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
});
document.querySelectorAll('button[data-copy]').forEach(function (b) {
  b.hidden = false;
  b.addEventListener('click', function () {
    var el = document.getElementById(b.getAttribute('data-copy'));
    navigator.clipboard.writeText(el.textContent.trim()).then(function () { b.textContent = b.getAttribute('data-copied') || 'Copied'; });
  });
});
document.querySelectorAll('form[data-confirm]').forEach(function (f) {
  f.addEventListener('submit', function (e) {
    if (f.dataset.confirmed) return;
    var d = document.getElementById(f.getAttribute('data-confirm'));
    if (!d || !d.showModal) return;
    e.preventDefault();
    d.showModal();
    d.addEventListener('close', function () {
      if (d.returnValue === 'confirm') { f.dataset.confirmed = '1'; f.submit(); }
    }, { once: true });
  });
});
`
