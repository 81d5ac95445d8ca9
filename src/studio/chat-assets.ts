/** The chat page's styles and script (served at /chat/chat.css and /chat/chat.js), apart from the other pages'. */

export const CHAT_STYLESHEET = `
.chat-head .lead { max-width: 760px; }
.chat { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 24px; align-items: start; }
@media (max-width: 860px) { .chat { grid-template-columns: 1fr; } }
.chat-window { padding: 0; display: flex; flex-direction: column; height: min(68vh, 640px); min-height: 420px; overflow: hidden; }
.chat-log { flex: 1; overflow-y: auto; padding: 22px 22px 8px; display: flex; flex-direction: column; gap: 14px; }
.chat-empty { margin: auto; text-align: center; max-width: 440px; color: var(--muted); }
.chat-empty p { color: var(--muted); }
.chat-empty-icon { width: 52px; height: 52px; margin: 0 auto 12px; border-radius: 50%; background: radial-gradient(circle at 35% 35%, #3ddc97, var(--accent)); box-shadow: 0 6px 18px rgba(15,157,119,.25); }
.chat-suggestions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: center; }
.chat-suggestions button { font-weight: 500; font-size: .9rem; padding: 6px 12px; }
.msg { display: flex; flex-direction: column; max-width: 78%; }
.msg.user { align-self: flex-end; align-items: flex-end; }
.msg.assistant { align-self: flex-start; }
.msg .bubble { padding: 10px 14px; border-radius: 16px; white-space: pre-wrap; word-break: break-word; line-height: 1.5; }
.msg.user .bubble { background: var(--accent); color: #fff; border-bottom-right-radius: 4px; }
.msg.assistant .bubble { background: var(--bg); border: 1px solid var(--line); border-bottom-left-radius: 4px; }
.msg.failed .bubble { background: #fdecea; border-color: #f1c4bf; color: #8a1f14; }
.msg.pending .bubble:empty::after { content: '● ● ●'; letter-spacing: 2px; color: #9aa5b8; animation: chat-dots 1.2s infinite; }
.msg.pending .bubble:not(:empty)::after { content: '▍'; color: var(--accent); animation: chat-dots 1s infinite; }
@keyframes chat-dots { 50% { opacity: .35; } }
.msg-meta { font-size: .8rem; color: var(--muted); margin-top: 4px; display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.msg-meta .verified { color: var(--accent-dark); font-weight: 600; }
.msg-meta code { font-size: .75rem; }
.msg-note { font-size: .8rem; color: #8a5a00; background: #fff6e0; border-radius: 6px; padding: 4px 8px; margin-top: 4px; }
.chat-composer { display: flex; gap: 10px; padding: 14px; border-top: 1px solid var(--line); background: var(--card); align-items: flex-end; }
.chat-composer textarea { resize: none; min-height: 44px; max-height: 160px; }
.chat-composer button { height: 44px; }
.chat-side { display: grid; gap: 18px; }
.chat-side .card h3 { margin-bottom: 12px; }
.chat-settings { display: grid; gap: 12px; margin-bottom: 12px; }
.chat-settings label { font-size: .88rem; }
.chat-settings select { font: inherit; padding: 8px 10px; border: 1px solid #cfd6e0; border-radius: 8px; background: #fff; font-weight: 400; }
.chat-cost { font-size: .88rem; }
.chat-side pre.snippet { font-size: 12px; margin: 0; white-space: pre; word-break: normal; overflow-x: auto; }
`;

/**
 * The conversation lives in the page (sent whole with each turn, as OpenAI's API takes it). A turn is
 * posted with the form's CSRF token; the reply grows from the job's `job:output` events (the provider's
 * live output, cut at the model's stop sequences as the studio cuts it), and is replaced by the verified
 * reply once the job's `result` event arrives.
 */
export const CHAT_SCRIPT = `
(function () {
  var form = document.querySelector('form[data-chat]');
  if (!form) return;
  var log = document.querySelector('[data-chat-log]');
  var empty = document.querySelector('[data-chat-empty]');
  var settings = document.querySelector('[data-chat-settings]');
  var textarea = form.querySelector('textarea');
  var sendButton = form.querySelector('button[type=submit]');
  var conversation = [];
  var busy = false;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function setting(name) { return settings.querySelector('[name=' + name + ']').value; }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function plural(n) { return n + ' credit' + (n === 1 ? '' : 's'); }
  function cut(text, stop) {
    var at = -1;
    stop.forEach(function (s) { var i = text.indexOf(s); if (i >= 0 && (at < 0 || i < at)) at = i; });
    return at < 0 ? text : text.slice(0, at);
  }
  function message(role, text) {
    var wrap = el('div', 'msg ' + role);
    var body = el('div', 'bubble', text);
    var meta = el('div', 'msg-meta');
    wrap.appendChild(body);
    wrap.appendChild(meta);
    log.appendChild(wrap);
    scroll();
    return { wrap: wrap, body: body, meta: meta };
  }
  function done() {
    busy = false;
    sendButton.disabled = false;
    textarea.focus();
  }
  function fail(reply, text) {
    // The failed turn leaves the conversation: the next message is asked as if it had not happened.
    conversation.pop();
    reply.wrap.classList.remove('pending');
    reply.wrap.classList.add('failed');
    reply.body.textContent = text;
    // What is left below the message: the job's link where there was a job, else nothing.
    reply.meta.querySelectorAll('.status-line').forEach(function (s) { s.remove(); });
    if (!reply.meta.querySelector('a')) reply.meta.textContent = '';
    done();
  }

  function send(text) {
    if (busy || !text.trim()) return;
    busy = true;
    sendButton.disabled = true;
    if (empty) empty.hidden = true;
    conversation.push({ role: 'user', content: text });
    message('user', text);
    textarea.value = '';
    var reply = message('assistant', '');
    reply.wrap.classList.add('pending');
    reply.meta.textContent = 'Starting a job…';
    var seed = setting('seed') || String(Math.floor(Math.random() * 2147483647));
    var body = new URLSearchParams({
      csrf: form.querySelector('[name=csrf]').value,
      model: setting('model'),
      messages: JSON.stringify(conversation),
      temperature: setting('temperature'),
      max_tokens: setting('max_tokens'),
      seed: seed,
    });
    fetch(form.action, { method: 'POST', body: body, headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (!res.ok) return fail(reply, res.body.error.message);
        follow(res.body, seed, reply);
      })
      .catch(function () { fail(reply, 'The studio could not be reached: try again.'); });
  }

  function follow(job, seed, reply) {
    var preview = '';
    reply.meta.textContent = '';
    var status = el('span', 'status-line', 'Queued');
    var link = el('a', '', job.id);
    link.href = '/jobs/' + job.id;
    link.target = '_blank';
    reply.meta.appendChild(status);
    reply.meta.appendChild(link);
    var source = new EventSource('/jobs/' + encodeURIComponent(job.id) + '/events');
    source.addEventListener('progress', function (e) {
      var event = JSON.parse(e.data);
      if (event.type === 'job:output' && typeof event.text === 'string') {
        preview += event.text;
        reply.body.textContent = cut(preview, job.stop);
        scroll();
      } else if (event.line) {
        status.textContent = event.line.replace(/^\\S+\\s/, '');
      }
    });
    source.addEventListener('result', function () {
      source.close();
      fetch('/chat/replies/' + encodeURIComponent(job.id), { credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (result) {
          var credits = document.querySelector('[data-credits]');
          if (credits && typeof result.balance === 'number') credits.textContent = plural(result.balance);
          if (result.status !== 'succeeded') return fail(reply, 'The job failed: ' + (result.error || 'no reason was given') + (result.refunded ? '. Its credits were refunded.' : ''));
          var shown = reply.body.textContent;
          reply.wrap.classList.remove('pending');
          reply.body.textContent = result.reply;
          if (preview && result.reply.indexOf(shown) !== 0) reply.wrap.insertBefore(el('div', 'msg-note', 'The live preview differed from the verified result: this is the verified reply.'), reply.meta);
          conversation.push({ role: 'assistant', content: result.reply });
          reply.meta.textContent = '';
          var verified = el('span', 'verified', '✓ Verified');
          verified.title = 'Checked against the result CID ' + result.cid;
          reply.meta.appendChild(verified);
          reply.meta.appendChild(el('span', 'cost', plural(result.credits)));
          reply.meta.appendChild(el('span', '', 'seed ' + seed));
          reply.meta.appendChild(link);
          reply.meta.appendChild(el('code', 'cid', result.cid.slice(0, 12) + '…'));
          scroll();
          done();
        })
        .catch(function () { fail(reply, 'The reply could not be read: see the job page.'); });
    });
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); send(textarea.value); });
  textarea.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(textarea.value); }
  });
  document.querySelectorAll('[data-suggestion]').forEach(function (b) { b.addEventListener('click', function () { send(b.textContent); }); });
  document.querySelector('[data-chat-reset]').addEventListener('click', function () {
    if (busy) return;
    conversation = [];
    log.querySelectorAll('.msg').forEach(function (m) { m.remove(); });
    if (empty) empty.hidden = false;
    textarea.focus();
  });
})();
`;
