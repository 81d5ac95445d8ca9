/**
 * The chat page (`/chat`): a conversation with a chat module for a signed-in person. Each turn is a job
 * started the way the module form starts one (session, CSRF token, credits): `POST /chat` applies the
 * module's chat template to the conversation and queues the job; the page follows it on the job's own
 * EventSource (`/jobs/:id/events`), shows the provider's live output as it comes, and then the verified
 * reply from `GET /chat/replies/:id` with its cost and a link to the job. Its script and styles are in
 * chat-assets.ts.
 */
import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import { isUserFacing } from '../lib/errors.js';
import { statusOfJobError } from './api.js';
import type { Catalog, CatalogModule } from './catalog.js';
import { chatJobInputs, chatMessages, cutAtStop, type ChatDeclaration } from './chat.js';
import { CHAT_SCRIPT, CHAT_STYLESHEET } from './chat-assets.js';
import type { StudioJobs } from './jobs.js';
import { credits, csrfField, formOf, layout, type Page, type WebEnv } from './page.js';
import type { StudioStore } from './store.js';

type ChatModule = CatalogModule & { chat: ChatDeclaration };

export function createChatPage(components: { store: StudioStore; jobs: StudioJobs; catalog: Catalog }): Hono<WebEnv> {
  const { store, jobs, catalog } = components;
  const app = new Hono<WebEnv>();
  const chatModules = () => catalog.modules.filter((m): m is ChatModule => m.chat !== undefined);
  const chatModule = (ref: string): ChatModule | undefined => {
    try {
      const module = catalog.find(ref);
      return module.chat ? (module as ChatModule) : undefined;
    } catch {
      return undefined;
    }
  };
  const fail = (c: Context<WebEnv>, status: 400 | 401 | 402 | 404 | 429, message: string) => c.json({ error: { message } }, status);

  app.get('/chat.js', (c) => c.body(CHAT_SCRIPT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' }));
  app.get('/chat.css', (c) => c.body(CHAT_STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }));

  app.get('/', (c) => {
    if (!c.get('user')) return c.redirect('/signin?next=/chat', 303);
    return c.html(layout(c, 'Chat', chatPage(c, chatModules(), new URL(c.req.url).origin)));
  });

  // One turn: the conversation so far (JSON, in OpenAI's message shape) and the settings, as a form with the CSRF token.
  app.post('/', async (c) => {
    const user = c.get('user');
    if (!user) return fail(c, 401, 'sign in to chat');
    const form = await formOf(c);
    const module = chatModule(form.model ?? '');
    if (!module) return fail(c, 404, `no chat model ${JSON.stringify(form.model ?? '')}: the studio's are ${chatModules().map((m) => m.ref).join(', ')}`);
    const number = (text: string | undefined) => (text === undefined || text.trim() === '' ? undefined : Number(text));
    try {
      let messages: unknown;
      try {
        messages = JSON.parse(form.messages ?? '');
      } catch {
        messages = undefined;
      }
      const inputs = chatJobInputs(module.chat, chatMessages(messages), { maxTokens: number(form.max_tokens), temperature: number(form.temperature), seed: number(form.seed) });
      const job = jobs.start(user.id, { module: module.ref, inputs }, 'web');
      return c.json({ id: job.id, credits: job.credits, stop: module.chat.stop }, 201);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      return fail(c, statusOfJobError(error.code), error.message);
    }
  });

  // The verified reply of a chat job: its stdout (downloaded and checked against the result's CID), cut at the module's stop sequence.
  app.get('/replies/:id', (c) => {
    const user = c.get('user');
    const job = user && store.job(c.req.param('id'));
    if (!user || !job || job.userId !== user.id) return fail(c, 404, 'no such job of yours');
    const module = chatModule(job.module);
    if (!module) return fail(c, 404, `job ${job.id} is not a chat job`);
    const finished = job.status === 'succeeded' || job.status === 'failed';
    const { reply, stopped } = cutAtStop(job.stdout ?? '', module.chat.stop);
    return c.json({
      id: job.id,
      status: job.status,
      ...(finished && job.status === 'succeeded' ? { reply, stopped } : {}),
      ...(job.error ? { error: job.error } : {}),
      credits: job.refunded ? 0 : job.credits,
      refunded: job.refunded,
      ...(job.cid ? { cid: job.cid } : {}),
      ...(job.dealId ? { dealId: job.dealId } : {}),
      balance: store.user(user.id)!.credits,
    });
  });

  return app;
}

function chatPage(c: Context<WebEnv>, modules: ChatModule[], origin: string): Page {
  const first = modules[0];
  if (!first) return html`<h1>Chat</h1><p class="lead">No module of this studio can chat.</p>`;
  const bound = (b: { min: number; max: number } | undefined, fallback: string) => (b ? `${b.min} to ${b.max}` : fallback);
  return html`<link rel="stylesheet" href="/chat/chat.css">
  <script src="/chat/chat.js" defer></script>
  <div class="chat-head">
    <div><h1>Chat</h1>
    <p class="lead">Talk to <strong>${first.name}</strong>, a 2-million-parameter model trained on Debian's fortune cookies, running as a deterministic job on the network. Expect whimsy, not facts.</p></div>
  </div>
  <div class="chat">
    <section class="card chat-window">
      <div class="chat-log" data-chat-log aria-live="polite">
        <div class="chat-empty" data-chat-empty>
          <div class="chat-empty-icon"></div>
          <p><strong>Ask anything.</strong> Each reply is a job on the Lilypad network, checked against its result's CID before it is shown.</p>
          <div class="chat-suggestions">
            ${['What is the meaning of life?', 'Tell me about computers.', 'Why do cats sleep so much?'].map((s) => html`<button type="button" class="secondary" data-suggestion>${s}</button>`)}
          </div>
        </div>
      </div>
      <form class="chat-composer" data-chat method="post" action="/chat">
        ${csrfField(c)}
        <textarea name="message" rows="2" placeholder="Send a message" aria-label="Message" required></textarea>
        <button type="submit">Send</button>
      </form>
    </section>
    <aside class="chat-side">
      <div class="card">
        <h3>Settings</h3>
        <div class="chat-settings" data-chat-settings>
          <label>Model <select name="model">${modules.flatMap((m) => m.tags.map((tag) => html`<option value="${m.name}:${tag}">${m.name}:${tag}</option>`))}</select></label>
          <label>Temperature <input type="number" name="temperature" value="0.5" step="0.1" min="${first.chat.temperature?.min ?? 0}" max="${first.chat.temperature?.max ?? 2}"></label>
          <label>Max tokens <input type="number" name="max_tokens" value="64" step="1" min="${first.chat.maxTokens?.min ?? 1}" max="${first.chat.maxTokens?.max ?? 256}"></label>
          <label>Seed <input type="number" name="seed" min="0" step="1" placeholder="a new one each reply"></label>
        </div>
        <p class="muted chat-cost">Each reply costs <strong>${credits(first.credits)}</strong>. Temperature ${bound(first.chat.temperature, 'any')}, max tokens ${bound(first.chat.maxTokens, 'any')}.</p>
        <button type="button" class="secondary" data-chat-reset>New conversation</button>
      </div>
      <div class="card">
        <h3>From your code</h3>
        <p class="muted">The same model answers on the OpenAI-compatible API, with an API key.</p>
        <pre class="snippet">import OpenAI from 'openai';
const client = new OpenAI({
  baseURL: '${origin}/v1',
  apiKey: process.env.LILYPAD_STUDIO_KEY,
});
const chat = await client.chat.completions.create({
  model: '${first.name}',
  messages: [{ role: 'user', content: 'Hello' }],
});</pre>
      </div>
    </aside>
  </div>`;
}
