/**
 * The studio: one HTTP server for the web app and the API, in front of one job network opened for the
 * server's life (the embedded network when nothing is configured, else the configured one, paid for from
 * WEB3_PRIVATE_KEY's escrow), with its state in `<dataDir>/studio.db` and results in `<dataDir>/results`.
 */
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { openJobNetwork, type JobNetwork } from '../job-creator/job-network.js';
import { UserInputError } from '../lib/errors.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';
import { createApi } from './api.js';
import { createApiKeyCheck } from './api-auth.js';
import { loadCatalog } from './catalog.js';
import { createStudioJobs } from './jobs.js';
import { createOpenAiApi, openAiError } from './openai.js';
import { openApiDocument, OPENAPI_PATH } from './openapi.js';
import { freeBetaPayments, type PaymentProvider } from './payments.js';
import { createRateLimiter, DEFAULT_API_RATE_LIMIT, type RateLimit } from './rate-limit.js';
import { publicOriginOf, signInSettingsOf, type PublicOrigin } from './sign-in.js';
import { SESSION_COOKIE } from './page.js';
import { sha256Hex } from './secrets.js';
import { openStudioStore } from './store.js';
import { createUploads, DEFAULT_MAX_UPLOAD_BYTES } from './uploads.js';
import { createWebApp } from './web.js';

export interface StudioOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** Settings: WEB3_RPC_URL and the rest name a configured network; none means the embedded one. */
  env: NodeJS.ProcessEnv;
  payments?: PaymentProvider;
  rateLimit?: RateLimit;
  /** How many jobs run at once on the studio's account (default DEFAULT_PARALLEL_JOBS); the rest wait their turn. */
  parallelJobs?: number;
  /** The most bytes one upload may have, its files together (default DEFAULT_MAX_UPLOAD_BYTES, 64 MiB). */
  maxUploadBytes?: number;
  /** Told once the job network is up, or why it is not. */
  onNetwork?: (outcome: { identity: string } | { error: unknown }) => void;
}

export interface RunningStudio {
  url: string;
  /** Where people open it (LILYPAD_STUDIO_ORIGIN, else http://localhost:<port>): passkeys and sign-in redirects belong to it. */
  origin: string;
  /** The job network, once open. */
  network: Promise<JobNetwork>;
  stop(): Promise<void>;
}

/** Headers for every page: no framing, no sniffing, scripts and styles from the studio only. */
const SECURITY_HEADERS: Record<string, string> = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'";

/** The page a form post over the limit gets (before any session is read: a plain page, no layout). */
function tooLargePage(message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Too large · Lilypad AI Studio</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><div class="notice error">This form sent too much: ${message}. Go back and send less.</div></main></body></html>`;
}

export async function startStudio(options: StudioOptions): Promise<RunningStudio> {
  const dataDir = path.resolve(options.dataDir);
  const signInSettings = signInSettingsOf(options.env);
  const store = openStudioStore(dataDir);
  const catalog = await loadCatalog();
  const payments = options.payments ?? freeBetaPayments();
  const stopping = new AbortController();

  // What the studio keeps lives in its folder: blocks and results, and on a configured network the job
  // creator's records of its deals (which `lilypad get` on this folder's jobs.db can follow).
  const networkEnv: NodeJS.ProcessEnv = {
    ...options.env,
    LILYPAD_BLOCKS_DIR: path.join(dataDir, 'blocks'),
    LILYPAD_JOBS_DB: path.join(dataDir, 'jobs.db'),
  };
  const blockstore = await openBlockstore(networkEnv.LILYPAD_BLOCKS_DIR!);
  // The network opens once the server listens (a port in use costs no network start), behind it: pages
  // answer at once, and jobs wait for it.
  let openNetwork!: () => void;
  const network = new Promise<void>((resolve) => (openNetwork = resolve)).then(() =>
    openJobNetwork({ env: networkEnv, resultsDir: path.join(dataDir, 'results'), signal: stopping.signal, blockstore }),
  );
  network.then(
    (opened) => options.onNetwork?.({ identity: opened.identity }),
    (error) => options.onNetwork?.({ error }),
  );

  const uploads = await createUploads({ store, blockstore, dataDir });
  const jobs = createStudioJobs({ store, catalog, network, parallelJobs: options.parallelJobs });
  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/html')) c.res.headers.set('content-security-policy', PAGE_CSP);
  });
  // Inputs are strings of at most 1 MiB each (larger data goes by CID); no request needs more than a few.
  // Uploads (the API's, and a module form that carries files) have their own, larger limit.
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const tooLarge = (code: string, message: string) => (c: Context) => {
    // The rest of the body is never read: the connection closes after this answer, and says so, so that no client sends its next request on it.
    c.header('connection', 'close');
    // A program gets JSON (OpenAI's shape on its routes); a person's form post gets a page that says the same.
    if (c.req.path.startsWith('/v1/')) return openAiError(c, 413, { message, type: 'invalid_request_error', param: null, code: 'body_too_large' });
    if (c.req.path.startsWith('/api/') || (c.req.header('accept') ?? '').includes('application/json') || !(c.req.header('content-type') ?? '').includes('form')) {
      return c.json({ error: { code, message } }, 413);
    }
    return c.html(tooLargePage(message), 413);
  };
  const requestLimit = bodyLimit({ maxSize: MAX_REQUEST_BYTES, onError: tooLarge('body-too-large', `requests may be at most ${MAX_REQUEST_BYTES / 1024 / 1024} MiB: pass large data by CID`) });
  const uploadLimit = bodyLimit({ maxSize: maxUploadBytes, onError: tooLarge('upload-too-large', `uploads may be at most ${+(maxUploadBytes / 1024 / 1024).toFixed(2)} MiB: send less, or add larger data with lilypad add and pass its CID`) });
  // The larger limit is for people the studio knows, so that nobody else makes it read that much: a module form
  // with files from a signed-in browser here; the API's uploads take it in api.ts, once the key is checked.
  const signedInUpload = (c: Context) => {
    const token = c.req.method === 'POST' && c.req.path === '/jobs' && (c.req.header('content-type') ?? '').toLowerCase().startsWith('multipart/form-data') && getCookie(c, SESSION_COOKIE);
    return Boolean(token && store.session(sha256Hex(token)));
  };
  app.use('*', (c, next) => {
    if (c.req.method === 'POST' && c.req.path === '/api/v1/uploads') return next();
    return (signedInUpload(c) ? uploadLimit : requestLimit)(c, next);
  });
  // Public, before the API's key check: what a program needs to know before it has a key. Any site may read it (Swagger UI, say).
  const openApi = openApiDocument(catalog, maxUploadBytes);
  app.get(OPENAPI_PATH, (c) => c.json(openApi, 200, { 'access-control-allow-origin': '*' }));
  // One token bucket per key across both APIs: a key's requests count the same on either.
  const checkApiKey = createApiKeyCheck(store, createRateLimiter(options.rateLimit ?? DEFAULT_API_RATE_LIMIT));
  app.route('/api/v1', createApi({ store, jobs, catalog, uploads, uploadLimit, checkApiKey }));
  app.route('/v1', createOpenAiApi({ jobs, catalog, checkApiKey }));
  // The default origin names the port, known once the server listens (before any request).
  let publicOrigin: PublicOrigin | undefined;
  const signIn = { publicOrigin: () => publicOrigin!, ...(signInSettings.oidc ? { oidc: signInSettings.oidc } : {}) };
  app.route('/', createWebApp({ store, jobs, catalog, payments, uploads, network, secureCookies: options.env.LILYPAD_STUDIO_SECURE_COOKIES === 'true', signIn }));
  app.onError((error, c) => {
    process.stderr.write(`lilypad studio: unexpected error on ${c.req.method} ${c.req.path} (a bug):\n${error.stack ?? String(error)}\n`);
    if (c.req.path.startsWith('/v1/')) return openAiError(c, 500, { message: 'the studio failed to answer this request (a bug); it was logged', type: 'server_error', param: null, code: 'internal' });
    return c.json({ error: { code: 'internal', message: 'the studio failed to answer this request (a bug); it was logged' } }, 500);
  });

  let server: RunningHttpServer;
  try {
    server = await listen(app, { host: options.host ?? '127.0.0.1', port: options.port ?? 8787 });
  } catch (error) {
    stopping.abort();
    const listenError = error as NodeJS.ErrnoException;
    if (listenError.code === 'EADDRINUSE' || listenError.code === 'EACCES' || listenError.code === 'EADDRNOTAVAIL') {
      error = new UserInputError(`cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 8787} (${listenError.code}): choose another --port or --host`, { code: 'listen-failed', cause: error });
    }
    await closeBlockstore(blockstore);
    store.close();
    throw error;
  }
  publicOrigin = publicOriginOf(signInSettings.origin, Number(new URL(server.url).port));
  // Once this studio holds its port: jobs that an earlier run of the studio left unfinished are followed by nobody: end them, refunding the
  // ones that never reached a deal.
  for (const job of store.unfinishedJobs()) {
    const agreed = job.events.some((event) => event.type === 'deal:agreed');
    store.finishJob(job.id, { status: 'failed', error: 'the studio stopped while this job ran', refund: !agreed });
  }

  openNetwork();

  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    origin: publicOrigin.origin,
    network,
    stop() {
      stopped ??= (async () => {
        await server.close();
        // Ends a job still running; it is recorded as failed (refunded when no deal was agreed yet).
        stopping.abort(new Error('the studio is stopping'));
        await jobs.idle();
        await network.then((n) => n.close(), () => undefined);
        await closeBlockstore(blockstore);
        store.close();
      })();
      return stopped;
    },
  };
}
