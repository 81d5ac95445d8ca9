/** The web app's stylesheet and script: small enough to ship as they are, with no build step. */

export const STYLESHEET = `
:root { --ink: #14213d; --muted: #5c677d; --line: #e3e8ef; --bg: #f6f8fb; --card: #fff; --accent: #0f9d77; --accent-dark: #0b7a5c; --danger: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent-dark); }
header.top { background: var(--card); border-bottom: 1px solid var(--line); }
header.top .bar { max-width: 1180px; margin: 0 auto; padding: 12px 24px; display: flex; flex-wrap: wrap; align-items: center; gap: 10px 20px; }
.brand { font-weight: 700; font-size: 1.15rem; text-decoration: none; color: var(--ink); display: flex; align-items: center; gap: 8px; }
.brand .pad { width: 26px; height: 26px; border-radius: 50%; background: radial-gradient(circle at 35% 35%, #3ddc97, var(--accent)); display: inline-block; }
nav.main { display: flex; flex-wrap: wrap; gap: 4px 16px; flex: 1; }
nav.main a { text-decoration: none; color: var(--muted); font-weight: 500; white-space: nowrap; }
nav.main a:hover { color: var(--ink); }
.account { display: flex; align-items: center; gap: 12px; color: var(--muted); font-size: .95rem; }
.credits { background: #e7f7f1; color: var(--accent-dark); border-radius: 999px; padding: 3px 12px; font-weight: 600; text-decoration: none; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 1.9rem; margin: 0 0 8px; letter-spacing: -0.01em; }
h2 { font-size: 1.25rem; margin: 32px 0 12px; }
.lead { color: var(--muted); margin: 0 0 28px; font-size: 1.05rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 20px; box-shadow: 0 1px 2px rgba(20,33,61,.04); }
.card h3 { margin: 0 0 6px; font-size: 1.1rem; }
.card p { margin: 0 0 14px; color: var(--muted); }
.meta { display: flex; gap: 10px; flex-wrap: wrap; font-size: .85rem; color: var(--muted); margin-bottom: 14px; }
.pill { border: 1px solid var(--line); border-radius: 999px; padding: 1px 10px; background: var(--bg); }
.button, button { display: inline-block; font: inherit; font-weight: 600; border: 0; border-radius: 8px; padding: 9px 18px; background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; }
.button:hover, button:hover { background: var(--accent-dark); }
button.secondary, .button.secondary { background: #fff; color: var(--ink); border: 1px solid var(--line); }
button.secondary:hover { background: var(--bg); }
button.danger { background: #fff; color: var(--danger); border: 1px solid #f1c4bf; }
button.link { background: none; color: var(--muted); padding: 0; font-weight: 500; }
button.link:hover { color: var(--ink); background: none; }
form.stack { display: grid; gap: 14px; max-width: 460px; }
label { display: grid; gap: 6px; font-weight: 600; font-size: .95rem; }
input[type=text], input[type=email], input[type=password], input[type=number], select, textarea { font: inherit; padding: 9px 12px; border: 1px solid #cfd6e0; border-radius: 8px; background: #fff; width: 100%; font-weight: 400; }
input:focus, textarea:focus { outline: 2px solid #9be3c9; border-color: var(--accent); }
.auth { max-width: 420px; margin: 40px auto; }
.notice { padding: 12px 16px; border-radius: 8px; margin: 0 0 20px; white-space: pre-line; }
.field { display: grid; gap: 6px; }
.field label { display: block; }
.field small { font-size: .85rem; }
.field input[type=checkbox] { justify-self: start; width: 18px; height: 18px; }
.field label.upload { font-size: .9rem; font-weight: 400; color: var(--muted); }
.field label.upload input[type=file] { display: block; margin-top: 4px; }
.upload-note { font-size: .9rem; }
.required { color: var(--danger); font-weight: 500; font-size: .8rem; }
.notice.error { background: #fdecea; color: #8a1f14; }
.notice.ok { background: #e7f7f1; color: var(--accent-dark); }
.secret { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #14213d; color: #9be3c9; padding: 12px 14px; border-radius: 8px; word-break: break-all; }
pre { background: #14213d; color: #e8edf5; padding: 16px; border-radius: 10px; overflow-x: auto; font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre.snippet { white-space: pre-wrap; word-break: break-all; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
th, td { text-align: left; padding: 10px 14px; border-bottom: 1px solid var(--line); font-size: .95rem; vertical-align: top; }
th { background: var(--bg); color: var(--muted); font-weight: 600; font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; }
tr:last-child td { border-bottom: 0; }
td form { margin: 0; }
td button { padding: 5px 12px; }
.status { font-weight: 600; }
.status.succeeded { color: var(--accent-dark); } .status.failed { color: var(--danger); } .status.running, .status.queued { color: #b7791f; }
.two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 28px; align-items: start; }
.output-image { margin: 16px 0; } .output-image img { max-width: 100%; border: 1px solid var(--line); border-radius: 8px; background: #fff; } .output-image figcaption { color: var(--muted); font-size: .85rem; }
@media (max-width: 800px) { .two { grid-template-columns: 1fr; } }
/* A narrow screen: the brand and the account on one line, the pages on the next, the email left out. */
@media (max-width: 640px) { header.top .bar { padding: 10px 16px; } .brand { white-space: nowrap; flex: 1; } nav.main { order: 3; flex-basis: 100%; } .account .email { display: none; } .account { white-space: nowrap; } main { padding: 24px 16px 48px; } }
ol.progress { list-style: none; padding: 0; margin: 0 0 16px; }
ol.progress li { padding: 6px 0; border-bottom: 1px dashed var(--line); }
.result dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 14px; margin: 0 0 12px; }
.result dt { color: var(--muted); } .result dd { margin: 0; word-break: break-all; }
.card .balance { font-size: 2.4rem; font-weight: 700; margin: 0; color: var(--ink); }
.muted { color: var(--muted); }
.hero { background: linear-gradient(135deg, #e7f7f1, #eef2ff); border-radius: 16px; padding: 32px; margin-bottom: 32px; }
`;

/**
 * Runs a job from a module's form and follows it on the page: the form is posted with fetch (the CSRF
 * token travels in it), then the job's events arrive over EventSource and the result is drawn when it ends.
 * A job page opened directly follows its job the same way.
 */
export const SCRIPT = `
(function () {
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function showResult(panel, job) {
    var box = panel.querySelector('.result');
    box.textContent = '';
    var status = panel.querySelector('[data-status]');
    if (status) { status.textContent = job.status; status.className = 'status ' + job.status; }
    if (job.error) box.appendChild(el('div', { 'class': 'notice error' }, job.error));
    if (job.stdout !== undefined) { box.appendChild(el('h3', {}, 'Output')); box.appendChild(el('pre', { 'class': 'stdout' }, job.stdout)); }
    var dl = el('dl');
    if (job.cid) { dl.appendChild(el('dt', {}, 'CID')); dl.appendChild(el('dd', { 'class': 'cid' }, job.cid)); }
    dl.appendChild(el('dt', {}, 'Cost')); dl.appendChild(el('dd', {}, job.refunded ? 'refunded' : job.credits + ' credit' + (job.credits === 1 ? '' : 's')));
    box.appendChild(dl);
    (job.files || []).filter(function (f) { return f.image; }).forEach(function (f) {
      var figure = el('figure', { 'class': 'output-image' });
      figure.appendChild(el('img', { src: f.webUrl || f.url, alt: f.path }));
      figure.appendChild(el('figcaption', {}, f.path));
      box.appendChild(figure);
    });
    if (job.files && job.files.length) {
      box.appendChild(el('h3', {}, 'Files'));
      var ul = el('ul', { 'class': 'files' });
      job.files.forEach(function (f) { var li = el('li'); li.appendChild(el('a', { href: f.webUrl || f.url, download: '' }, f.path)); li.appendChild(document.createTextNode(' (' + f.size + ' bytes)')); ul.appendChild(li); });
      box.appendChild(ul);
    }
  }
  function follow(panel, jobId) {
    panel.hidden = false;
    var list = panel.querySelector('ol.progress');
    list.textContent = '';
    var link = panel.querySelector('[data-job-link]');
    if (link) { link.href = '/jobs/' + jobId; link.textContent = jobId; }
    var source = new EventSource('/jobs/' + encodeURIComponent(jobId) + '/events');
    source.addEventListener('progress', function (e) {
      var event = JSON.parse(e.data);
      if (event.line) list.appendChild(el('li', {}, event.line));
    });
    source.addEventListener('result', function (e) {
      source.close();
      showResult(panel, JSON.parse(e.data));
      var credits = document.querySelector('[data-credits]');
      fetch('/account.json', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (a) { if (credits) credits.textContent = a.credits + ' credit' + (a.credits === 1 ? '' : 's'); });
    });
  }
  var form = document.querySelector('form[data-run]');
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var panel = document.getElementById('job');
      var error = form.querySelector('.notice.error');
      if (error) error.remove();
      var button = form.querySelector('button');
      button.disabled = true;
      // A form that may carry files posts multipart, files and all; the others post urlencoded.
      var data = new FormData(form);
      fetch(form.action, { method: 'POST', body: form.enctype === 'multipart/form-data' ? data : new URLSearchParams(data), headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          button.disabled = false;
          if (!res.ok) { form.prepend(el('div', { 'class': 'notice error' }, res.body.error.message)); return; }
          follow(panel, res.body.id);
        })
        .catch(function () { button.disabled = false; });
    });
  }
  // Chosen files take the place of the CID in the field beside them (a default included): the field says so.
  document.querySelectorAll('input[data-upload-for]').forEach(function (picker) {
    var field = document.getElementById(picker.getAttribute('data-upload-for'));
    var placeholder = field.placeholder;
    picker.addEventListener('change', function () {
      if (picker.files.length) field.value = '';
      field.placeholder = picker.files.length ? 'the chosen files' : placeholder;
    });
  });
  var live = document.querySelector('[data-follow-job]');
  if (live) follow(live, live.getAttribute('data-follow-job'));
})();
`;
