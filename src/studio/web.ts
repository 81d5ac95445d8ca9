/**
 * The web app: server-rendered pages, a session cookie, and a CSRF token in every form. Pages: the module
 * gallery (`/`), a module's form (`/modules/:name`), jobs (`/jobs`, `/jobs/:id`, live over EventSource), chat (`/chat`, chat-page.ts),
 * your uploads (`/uploads`), API keys (`/keys`), credits (`/credits`), sign-up, sign-in and sign-out, and the public network dashboard
 * (`/dashboard`, in dashboard.ts).
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { formatEther } from 'viem';
import { isUserFacing, UserInputError } from '../lib/errors.js';
import { statusOfJobError } from './api.js';
import type { JobNetwork } from '../job-creator/job-network.js';
import { SCRIPT, STYLESHEET } from './assets.js';
import { createDashboard } from './dashboard.js';
import type { Catalog, CatalogModule } from './catalog.js';
import { createChatPage } from './chat-page.js';
import { followJobEvents, sendResultFile } from './follow.js';
import { exampleInputs, inputField } from './module-form.js';
import { jobView, type StudioJobs } from './jobs.js';
import { createOidcApp } from './oidc.js';
import { credits, csrfField, day, formOf, layout, PRE_SESSION_CSRF_COOKIE, safeNext, SESSION_COOKIE, webSessions, type Page, type WebEnv } from './page.js';
import { createPasskeyApp } from './passkeys.js';
import type { PaymentProvider } from './payments.js';
import { createRateLimiter, SIGN_IN_RATE_LIMIT } from './rate-limit.js';
import { decoyPasswordHash, hashPassword, newApiKey, sameSecret, sha256Hex, verifyPassword } from './secrets.js';
import { otherSignInMethods, serveSignInAssets, type SignInConfig } from './sign-in.js';
import type { StudioJob, StudioStore, Upload, User } from './store.js';
import { filesOfForm, type StudioUploads } from './uploads.js';

export const MIN_PASSWORD_LENGTH = 10;

export interface WebComponents {
  store: StudioStore;
  jobs: StudioJobs;
  catalog: Catalog;
  payments: PaymentProvider;
  /** Files a person chooses for a module's cid input go on the network through these. */
  uploads: StudioUploads;
  /** Cookies marked Secure when the studio is served over HTTPS (behind a proxy that says so). */
  secureCookies: boolean;
  /** Passkeys and OpenID Connect: the public origin and the provider. */
  signIn: SignInConfig;
  /** The studio's job network, whose market the public dashboard shows. */
  network: Promise<JobNetwork>;
}

export function createWebApp(components: WebComponents): Hono<WebEnv> {
  const { store, jobs, catalog, payments, uploads } = components;
  const app = new Hono<WebEnv>();
  const sessions = webSessions(store, components.secureCookies);
  const { preSessionCsrf } = sessions;

  app.get('/static/app.css', (c) => c.body(STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }));
  app.get('/static/app.js', (c) => c.body(SCRIPT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' }));
  serveSignInAssets(app);

  // Who is signed in, from the session cookie.
  app.use('*', async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (token) {
      const tokenHash = sha256Hex(token);
      const session = store.session(tokenHash);
      const user = session && store.user(session.userId);
      if (session && user) {
        c.set('session', { ...session, tokenHash });
        c.set('user', user);
      }
    }
    await next();
  });

  // Every POST from a browser session carries the session's CSRF token (form field `csrf` or header).
  app.use('*', async (c, next) => {
    if (c.req.method !== 'POST' && c.req.method !== 'DELETE') return next();
    const session = c.get('session');
    const form = await formOf(c);
    const sent = form.csrf ?? c.req.header('x-csrf-token') ?? '';
    const expected = session ? session.csrfToken : (getCookie(c, PRE_SESSION_CSRF_COOKIE) ?? '');
    if (!expected || !sameSecret(sent, expected)) {
      return c.html(layout(c, 'Form expired', html`<div class="notice error">This form expired or did not come from this site. Go back, reload the page and try again.</div>`), 403);
    }
    await next();
  });

  // Passkeys and the provider sign in through the same sessions, after the session and CSRF checks above.
  const { signIn } = components;
  app.route('/', createPasskeyApp({ store, sessions, config: signIn, payments }));
  if (signIn.oidc) app.route('/', createOidcApp({ store, sessions, config: signIn, settings: signIn.oidc, payments }));

  const signedIn = (c: Context<WebEnv>): User | undefined => c.get('user');
  const toSignIn = (c: Context<WebEnv>) => c.redirect(`/signin?next=${encodeURIComponent(c.req.path)}`, 303);

  // Guessing passwords is slow: 10 attempts per email at once, then one every 30 s.
  const signInAttempts = createRateLimiter(SIGN_IN_RATE_LIMIT);

  // --- accounts ---

  // A signed-in person has no use for these forms (and their CSRF token would not match the session's).
  app.get('/signup', (c, next) => (signedIn(c) ? c.redirect('/', 303) : next()));
  app.get('/signin', (c, next) => (signedIn(c) ? c.redirect(safeNext(c.req.query('next')), 303) : next()));
  app.get('/signup', (c) => c.html(authPage(c, signIn, 'signup', preSessionCsrf(c), payments)));
  app.post('/signup', async (c) => {
    const form = await formOf(c);
    const email = (form.email ?? '').trim();
    const password = form.password ?? '';
    const fail = (message: string) => c.html(authPage(c, signIn, 'signup', preSessionCsrf(c), payments, message, email.slice(0, 254)), 400);
    // 254 characters is the most an email address can have (RFC 5321's path limit).
    if (email.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return fail('Enter an email address, such as ada@example.com.');
    if (password.length < MIN_PASSWORD_LENGTH) return fail(`Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`);
    const exists = () => fail(`An account for ${email} already exists: sign in instead.`);
    if (store.userByEmail(email)) return exists();
    const passwordHash = await hashPassword(password);
    // Asked for twice at once, the second finds the account made while its password was hashed.
    if (store.userByEmail(email)) return exists();
    const user = store.createUser(email, passwordHash, payments.signupCredits, 'welcome credits (free beta)');
    sessions.start(c, user);
    return c.redirect('/', 303);
  });

  app.get('/signin', (c) => c.html(authPage(c, signIn, 'signin', preSessionCsrf(c), payments, undefined, '', c.req.query('next'))));
  app.post('/signin', async (c) => {
    const form = await formOf(c);
    const email = (form.email ?? '').trim();
    // No account has a longer one, and the attempt counter (kept per email, in memory) need not keep it.
    if (email.length > 254) return c.html(authPage(c, signIn, 'signin', preSessionCsrf(c), payments, 'That email and password do not match an account.', '', form.next), 401);
    const attempt = signInAttempts.take(email.toLowerCase());
    if (!attempt.ok) {
      c.header('Retry-After', String(attempt.retryAfterSeconds));
      return c.html(authPage(c, signIn, 'signin', preSessionCsrf(c), payments, `Too many sign-in attempts for ${email}: try again in ${attempt.retryAfterSeconds} s.`, email, form.next), 429);
    }
    const user = store.userByEmail(email);
    // The same scrypt work whether or not the account exists: timing tells nobody which emails have one.
    const ok = await verifyPassword(form.password ?? '', user?.passwordHash ?? (await decoyPasswordHash()));
    if (user && user.passwordHash === '') {
      const ways = ['your passkey', ...(signIn.oidc ? [signIn.oidc.name] : [])].join(' or ');
      return c.html(authPage(c, signIn, 'signin', preSessionCsrf(c), payments, `The account ${user.email} has no password: sign in with ${ways}.`, email, form.next), 401);
    }
    if (!user || !ok) return c.html(authPage(c, signIn, 'signin', preSessionCsrf(c), payments, 'That email and password do not match an account.', email, form.next), 401);
    sessions.start(c, user);
    return c.redirect(safeNext(form.next), 303);
  });

  app.post('/signout', (c) => {
    const session = c.get('session');
    if (session) store.removeSession(session.tokenHash);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/', 303);
  });

  app.post('/signout-everywhere', (c) => {
    const user = signedIn(c);
    if (user) store.removeSessionsOf(user.id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/signin', 303);
  });

  app.get('/account.json', (c) => {
    const user = signedIn(c);
    if (!user) return c.json({ error: { code: 'unauthenticated', message: 'sign in first' } }, 401);
    return c.json({ email: user.email, credits: user.credits, spent: store.spentBy(user.id) });
  });

  app.route('/', createDashboard(components.network));

  // --- modules and jobs ---

  app.get('/', (c) => c.html(layout(c, 'Modules', galleryPage(c, catalog.modules))));

  app.get('/modules/:name', (c) => {
    let module: CatalogModule;
    try {
      module = catalog.find(c.req.param('name'));
    } catch {
      return c.html(layout(c, 'Not found', html`<h1>No such module</h1><p><a href="/">See the modules the studio runs</a></p>`), 404);
    }
    const user = signedIn(c);
    return c.html(layout(c, module.name, modulePage(c, module, user ? store.uploadsOf(user.id, 20) : [])));
  });

  app.post('/jobs', async (c) => {
    const user = signedIn(c);
    const wantsJson = (c.req.header('accept') ?? '').includes('application/json');
    if (!user) return wantsJson ? c.json({ error: { code: 'unauthenticated', message: 'sign in to run jobs' } }, 401) : toSignIn(c);
    const form = await formOf(c);
    // A blank field is an input not given: the module's default, if it declares one, applies.
    const inputs: Record<string, string> = Object.fromEntries(Object.entries(form).filter(([key, value]) => key.startsWith('input.') && value !== '').map(([key, value]) => [key.slice('input.'.length), value]));
    try {
      await addChosenFiles(c, user, form.module, inputs);
      const job = jobs.start(user.id, { module: form.module, inputs }, 'web');
      return wantsJson ? c.json({ id: job.id, status: job.status, credits: job.credits }, 201) : c.redirect(`/jobs/${job.id}`, 303);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      if (wantsJson) return c.json({ error: { code: error.code, message: error.message } }, statusOfJobError(error.code));
      return c.html(layout(c, 'Could not run', html`<div class="notice error">${error.message}</div><p><a href="/">Back to the modules</a></p>`), statusOfJobError(error.code));
    }
  });

  /**
   * Files chosen for a module's cid inputs (`upload.<name>`): each input's files go on the network, and their CID
   * is the input, in place of any CID in its text field (choosing files is the later act; a default stays there).
   */
  const addChosenFiles = async (c: Context<WebEnv>, user: User, moduleRef: string | undefined, inputs: Record<string, string>) => {
    if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('multipart/form-data')) return;
    const body = await c.req.parseBody({ all: true });
    const chosen = Object.keys(body).filter((key) => key.startsWith('upload.')).map((key) => ({ input: key.slice('upload.'.length), files: filesOfForm(body, key) })).filter(({ files }) => files.length > 0);
    if (chosen.length === 0) return;
    const cidInputs = catalog.find(moduleRef ?? '').inputs.filter((input) => input.type === 'cid').map((input) => input.name);
    for (const { input } of chosen) {
      if (!cidInputs.includes(input)) throw new UserInputError(`${input}: files can be given only for an input that takes a CID (${cidInputs.join(', ') || 'this module has none'})`, { code: 'input-invalid' });
    }
    for (const { input, files } of chosen) inputs[input] = (await uploads.add(user.id, files)).cid;
  };

  const ownJob = (c: Context<WebEnv>): StudioJob | undefined => {
    const user = signedIn(c);
    const job = user && store.job(c.req.param('id') ?? '');
    return job && job.userId === user!.id ? job : undefined;
  };
  const filesUrl = (job: StudioJob) => (file: string) => `/jobs/${job.id}/files/${file.split('/').map(encodeURIComponent).join('/')}`;
  const jobNotFound = (c: Context<WebEnv>) => c.html(layout(c, 'Not found', html`<h1>No such job</h1><p><a href="/jobs">Your jobs</a></p>`), 404);

  app.get('/jobs', (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    return c.html(layout(c, 'Jobs', historyPage(store.jobsOf(user.id))));
  });

  app.get('/jobs/:id', async (c) => {
    if (!signedIn(c)) return toSignIn(c);
    const job = ownJob(c);
    if (!job) return jobNotFound(c);
    return c.html(layout(c, `Job ${job.id}`, await jobPage(job, filesUrl(job))));
  });

  app.get('/jobs/:id/events', (c) => {
    const job = ownJob(c);
    if (!job) return c.json({ error: { code: 'job-not-found', message: 'no such job of yours' } }, 404);
    return followJobEvents(c, jobs, job.id, filesUrl(job));
  });

  app.get('/jobs/:id/files/*', async (c) => {
    const job = ownJob(c);
    if (!job) return jobNotFound(c);
    return (await sendResultFile(c, job)) ?? c.text('no such file in the job\'s result', 404);
  });

  app.get('/uploads', (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    return c.html(layout(c, 'Uploads', uploadsPage(store.uploadsOf(user.id))));
  });

  app.route('/chat', createChatPage({ store, jobs, catalog }));

  // --- API keys ---

  app.get('/keys', (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    return c.html(layout(c, 'API keys', keysPage(c, store, user)));
  });

  app.post('/keys', async (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    const form = await formOf(c);
    const name = (form.name ?? '').trim().slice(0, 80) || 'API key';
    const capText = (form.dailyCap ?? '').trim();
    const dailyCap = capText === '' ? undefined : Number(capText);
    if (dailyCap !== undefined && (!Number.isInteger(dailyCap) || dailyCap <= 0)) {
      return c.html(layout(c, 'API keys', html`<div class="notice error">A daily cap is a whole number of credits above 0 (or leave it empty for none), not “${capText}”.</div>${keysPage(c, store, user)}`), 400);
    }
    const key = newApiKey();
    store.addApiKey({ id: key.id, userId: user.id, name, keyHash: key.hash, prefix: key.prefix, ...(dailyCap !== undefined ? { dailyCap } : {}) });
    // Shown on this response only: the studio keeps its hash, not the key.
    c.header('cache-control', 'no-store');
    return c.html(layout(c, 'API keys', keysPage(c, store, user, { name, key: key.key })));
  });

  app.post('/keys/:id/revoke', (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    const id = c.req.param('id');
    // Another person's key (or none) is not found, whatever its id: nothing tells anyone it exists.
    if (!store.revokeApiKey(user.id, id) && !store.apiKeysOf(user.id).some((key) => key.id === id)) {
      return c.html(layout(c, 'Not found', html`<h1>No such key</h1><p><a href="/keys">Your API keys</a></p>`), 404);
    }
    return c.redirect('/keys', 303);
  });

  // --- credits ---

  app.get('/credits', (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    return c.html(layout(c, 'Credits', creditsPage(c, store, user, payments, c.req.query('notice'))));
  });

  app.post('/credits/top-up', async (c) => {
    const user = signedIn(c);
    if (!user) return toSignIn(c);
    const outcome = await payments.topUp(user, store);
    if ('redirect' in outcome) return c.redirect(outcome.redirect, 303);
    const notice = 'granted' in outcome ? `Added ${outcome.granted} credits.` : `No credits added: ${outcome.refused}.`;
    return c.redirect(`/credits?notice=${encodeURIComponent(notice)}`, 303);
  });

  return app;
}

// --- pages ---

function authPage(c: Context<WebEnv>, signIn: SignInConfig, kind: 'signup' | 'signin', csrf: string, payments: PaymentProvider, error?: string, email = '', next?: string): Page {
  const signup = kind === 'signup';
  return layout(c, signup ? 'Sign up' : 'Sign in', html`<div class="auth card">
    <h1>${signup ? 'Create your account' : 'Sign in'}</h1>
    <p class="lead">${signup ? `No wallet needed. New accounts get ${payments.signupCredits} free credits during the beta.` : 'Welcome back.'}</p>
    ${error ? html`<div class="notice error">${error}</div>` : ''}
    <form class="stack" method="post" action="/${kind}">
      <input type="hidden" name="csrf" value="${csrf}">
      ${next ? html`<input type="hidden" name="next" value="${next}">` : ''}
      <label>Email <input type="email" name="email" autocomplete="email" required value="${email}"></label>
      <label>Password <input type="password" name="password" autocomplete="${signup ? 'new-password' : 'current-password'}" required ${signup ? raw(`minlength="${MIN_PASSWORD_LENGTH}"`) : ''}></label>
      <button type="submit">${signup ? 'Create account' : 'Sign in'}</button>
    </form>
    ${otherSignInMethods(c, signIn, kind, csrf, next)}
    <p class="muted">${signup ? html`Have an account? <a href="/signin">Sign in</a>` : html`New here? <a href="/signup">Create an account</a>`}</p>
  </div>`);
}

function galleryPage(c: Context<WebEnv>, modules: CatalogModule[]): Page {
  return html`${c.get('user') ? '' : html`<div class="hero"><h1>Run open AI models on a peer-to-peer network</h1>
    <p class="lead">Lilypad AI Studio runs deterministic modules on Lilypad's compute marketplace. No wallet needed: sign up, spend free beta credits, and use the API from your own programs.</p>
    <a class="button" href="/signup">Get started free</a></div>`}
    <h1>Modules</h1>
    <p class="lead">Pick a module, fill in its inputs and run it. Each run costs a fixed number of credits, shown before it runs.</p>
    <div class="grid">
    ${modules.map((m) => html`<div class="card module">
      <h3>${m.name}</h3>
      <p>${m.description}</p>
      <div class="meta"><span class="pill">${m.ref}</span><span class="pill">${m.credits} credit${m.credits === 1 ? '' : 's'} a run</span></div>
      <a class="button" href="/modules/${m.name}">Open</a>
    </div>`)}
    </div>`;
}

function modulePage(c: Context<WebEnv>, module: CatalogModule, recentUploads: Upload[]): Page {
  const user = c.get('user');
  // A form with a cid input may carry files, which only a multipart post can.
  const takesFiles = module.inputs.some((input) => input.type === 'cid');
  const example = JSON.stringify({ module: module.ref, inputs: exampleInputs(module.inputs) });
  return html`<h1>${module.name}</h1>
  <p class="lead">${module.description}</p>
  <div class="two">
    <div class="card">
      <form data-run method="post" action="/jobs" class="stack"${takesFiles ? raw(' enctype="multipart/form-data"') : ''}>
        ${csrfField(c)}
        <input type="hidden" name="module" value="${module.ref}">
        ${module.inputs.map((input) => inputField(input, recentUploads))}
        ${takesFiles && user ? html`<p class="muted upload-note">Files you upload go on the network for providers to fetch; <a href="/uploads">your uploads</a> keep their CIDs.</p>` : ''}
        <div class="meta"><span class="pill">${module.ref}</span><span class="pill cost">Costs ${module.credits} credit${module.credits === 1 ? '' : 's'}</span></div>
        ${user ? html`<button type="submit">Run ${module.name}</button>` : html`<a class="button" href="/signup">Sign up to run it</a>`}
      </form>
    </div>
    <div>
      <div class="card" id="job" hidden>
        <h3>Job <a data-job-link href="#"></a> · <span data-status class="status running">running</span></h3>
        <ol class="progress"></ol>
        <div class="result"></div>
      </div>
      <h2>From your code</h2>
      <pre class="snippet">curl -s ${new URL(c.req.url).origin}/api/v1/jobs \\
  -H "Authorization: Bearer $LILYPAD_STUDIO_KEY" \\
  -H "Content-Type: application/json" \\
  -d '${example}'</pre>
      <p class="muted">Every input, its type and its bounds: <a href="/api/openapi.json">the API's OpenAPI document</a>.</p>
    </div>
  </div>`;
}

function statusCell(job: StudioJob) {
  return html`<span class="status ${job.status}">${job.status}</span>`;
}

function historyPage(list: StudioJob[]): Page {
  return html`<h1>Your jobs</h1>
  ${list.length === 0
    ? html`<p class="lead">No jobs yet. <a href="/">Run a module</a>.</p>`
    : html`<table><thead><tr><th>Job</th><th>Module</th><th>Status</th><th>Cost</th><th>When</th></tr></thead><tbody>
      ${list.map((job) => html`<tr><td><a href="/jobs/${job.id}">${job.id}</a></td><td>${job.module}</td><td>${statusCell(job)}</td>
        <td>${job.refunded ? 'refunded' : credits(job.credits)}</td><td>${new Date(job.createdAt).toISOString().replace('T', ' ').slice(0, 19)} UTC</td></tr>`)}
    </tbody></table>`}`;
}

async function jobPage(job: StudioJob, filesUrl: (path: string) => string): Promise<HtmlEscapedString> {
  const finished = job.status === 'succeeded' || job.status === 'failed';
  const view = await jobView(job, filesUrl);
  return html`<h1>Job ${job.id}</h1>
  <p class="lead">${job.module} · ${Object.entries(job.inputs).map(([k, v]) => `${k}=${v}`).join(', ')}</p>
  <div class="card" ${finished ? '' : raw(`data-follow-job="${job.id}"`)}>
    <h3>Status: <span data-status class="status ${job.status}">${job.status}</span></h3>
    <ol class="progress">${job.events.map((e) => (typeof e.line === 'string' ? html`<li>${e.line}</li>` : ''))}</ol>
    <div class="result">${finished ? resultBlock(view) : ''}</div>
  </div>`;
}

function resultBlock(view: Awaited<ReturnType<typeof jobView>>) {
  return html`${view.error ? html`<div class="notice error">${view.error}</div>` : ''}
    ${view.stdout !== undefined ? html`<h3>Output</h3><pre class="stdout">${view.stdout}</pre>` : ''}
    <dl>${view.cid ? html`<dt>CID</dt><dd class="cid">${view.cid}</dd>` : ''}
      <dt>Cost</dt><dd>${view.refunded ? 'refunded' : `${view.credits} credit${view.credits === 1 ? '' : 's'}`}</dd>
      ${view.lpPaid ? html`<dt>Paid on chain</dt><dd>${formatEther(BigInt(view.lpPaid))} LP</dd>` : ''}</dl>
    ${view.files.filter((f) => f.image).map((f) => html`<figure class="output-image"><img src="${f.url}" alt="${f.path}"><figcaption>${f.path}</figcaption></figure>`)}
    ${view.files.length ? html`<h3>Files</h3><ul class="files">${view.files.map((f) => html`<li><a href="${f.url}" download>${f.path}</a> (${f.size} bytes)</li>`)}</ul>` : ''}`;
}

function uploadsPage(list: Upload[]): Page {
  return html`<h1>Your uploads</h1>
  <p class="lead">Files you chose on a module's form, or sent to <code>POST /api/v1/uploads</code>. Pass a CID as a module's data input. A CID names the bytes, not a person: providers fetch them to run jobs.</p>
  ${list.length === 0
    ? html`<p class="lead">No uploads yet. <a href="/modules/lora-training">Train an adapter on your own text</a>.</p>`
    : html`<table><thead><tr><th>Name</th><th>CID</th><th>Size</th><th>When</th></tr></thead><tbody>
      ${list.map((upload) => html`<tr data-upload="${upload.cid}"><td>${upload.name}</td><td class="cid"><code>${upload.cid}</code></td><td>${upload.size} bytes</td><td>${new Date(upload.createdAt).toISOString().replace('T', ' ').slice(0, 19)} UTC</td></tr>`)}
    </tbody></table>`}`;
}

function keysPage(c: Context<WebEnv>, store: StudioStore, user: User, created?: { name: string; key: string }): Page {
  const keys = store.apiKeysOf(user.id);
  return html`<h1>API keys</h1>
  <p class="lead">Programs use a key as <code>Authorization: Bearer &lt;key&gt;</code>. A key is shown once, when you create it.</p>
  ${created ? html`<div class="card new-key"><h3>Your new key “${created.name}”</h3><p>Copy it now: the studio keeps only its hash and cannot show it again.</p><div class="secret" data-new-key>${created.key}</div></div>` : ''}
  <div class="card" style="margin: 20px 0">
    <form method="post" action="/keys" class="stack">${csrfField(c)}
      <label>Name <input type="text" name="name" placeholder="my laptop" maxlength="80"></label>
      <label>Daily cap in credits (optional) <input type="number" name="dailyCap" min="1" step="1" placeholder="no cap"></label>
      <button type="submit">Create key</button>
    </form>
  </div>
  ${keys.length === 0 ? html`<p class="muted">No keys yet.</p>` : html`<table><thead><tr><th>Name</th><th>Key</th><th>Daily cap</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
    ${keys.map((key) => html`<tr data-key="${key.id}"><td>${key.name}</td><td><code>${key.prefix}…</code></td>
      <td>${key.dailyCap === undefined ? html`<span class="muted">none</span>` : `${store.spentTodayWithKey(key.id)} of ${credits(key.dailyCap)} today`}</td>
      <td>${day(key.createdAt)}</td><td>${key.lastUsedAt ? day(key.lastUsedAt) : 'never'}</td>
      <td>${key.revokedAt ? html`<span class="muted">revoked</span>` : html`<form method="post" action="/keys/${key.id}/revoke">${csrfField(c)}<button class="danger" type="submit">Revoke</button></form>`}</td></tr>`)}
  </tbody></table>`}`;
}

function creditsPage(c: Context<WebEnv>, store: StudioStore, user: User, payments: PaymentProvider, notice?: string): Page {
  const entries = store.creditEntriesOf(user.id);
  return html`<h1>Credits</h1>
  ${notice ? html`<div class="notice ok">${notice}</div>` : ''}
  <div class="two">
    <div class="card"><p class="muted">Balance</p><p class="balance">${user.credits}</p><p class="muted">Spent on jobs: ${credits(store.spentBy(user.id))}</p></div>
    <div class="card"><h3>${payments.name}</h3><p>${payments.description}</p>
      <form method="post" action="/credits/top-up">${csrfField(c)}<button type="submit">Add ${payments.topUpCredits} credits</button></form></div>
  </div>
  <h2>History</h2>
  <table><thead><tr><th>When</th><th>Change</th><th>Why</th></tr></thead><tbody>
  ${entries.map((e) => html`<tr><td>${new Date(e.createdAt).toISOString().replace('T', ' ').slice(0, 19)} UTC</td><td>${e.delta > 0 ? `+${e.delta}` : e.delta}</td>
    <td>${e.reason}${e.jobId ? html` (<a href="/jobs/${e.jobId}">${e.jobId}</a>)` : ''}</td></tr>`)}
  </tbody></table>
  <h2>Sessions</h2>
  <form method="post" action="/signout-everywhere">${csrfField(c)}<button class="secondary" type="submit">Sign out everywhere</button></form>`;
}


