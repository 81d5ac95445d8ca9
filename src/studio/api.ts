/**
 * The API for programs: `Authorization: Bearer <key>`, a token bucket per key, JSON errors as
 * `{ error: { code, message } }`. Jobs: `POST /api/v1/jobs`, `GET /api/v1/jobs/:id`, `GET
 * /api/v1/jobs/:id/events` (Server-Sent Events), `GET /api/v1/jobs/:id/files/<path>`; `GET /api/v1/modules`
 * and `GET /api/v1/account` to see what can run and what it costs. Data: `POST /api/v1/uploads` (a multipart
 * form's `file` fields, or a raw body named by `?name=`) answers `{ cid, name, size }`, the CID to pass as a
 * cid input; `GET /api/v1/uploads` lists one's own.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { isUserFacing } from '../lib/errors.js';
import type { ApiKeyCheck } from './api-auth.js';
import type { Catalog } from './catalog.js';
import { followJobEvents, sendResultFile } from './follow.js';
import { jobView, type StudioJobs } from './jobs.js';
import type { StudioJob, StudioStore, User } from './store.js';
import { filesOfRequest, type StudioUploads } from './uploads.js';

type ApiEnv = { Variables: { user: User; keyId: string } };

export function apiError(c: Context, status: 400 | 401 | 402 | 404 | 429 | 500, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/** The HTTP status for a job request's error: a short balance is 402, a key's spent daily cap 429, an unknown module 404, the rest 400. */
export function statusOfJobError(code: string): 400 | 402 | 404 | 429 {
  if (code === 'insufficient-credits') return 402;
  if (code === 'daily-cap-reached') return 429;
  if (code === 'module-unknown') return 404;
  return 400;
}

export function createApi(components: { store: StudioStore; jobs: StudioJobs; catalog: Catalog; uploads: StudioUploads; uploadLimit: MiddlewareHandler; checkApiKey: (c: Context) => ApiKeyCheck }): Hono<ApiEnv> {
  const { store, jobs, catalog, uploads, uploadLimit, checkApiKey } = components;
  const api = new Hono<ApiEnv>();

  api.use('*', async (c, next) => {
    const checked = checkApiKey(c);
    if (!checked.ok) {
      if (checked.reason === 'rate-limited') {
        c.header('Retry-After', String(checked.retryAfterSeconds));
        return apiError(c, 429, checked.reason, checked.message);
      }
      return apiError(c, 401, checked.reason, checked.message);
    }
    c.set('user', checked.user);
    c.set('keyId', checked.key.id);
    await next();
  });

  const ownJob = (c: Context<ApiEnv>): StudioJob | undefined => {
    const job = store.job(c.req.param('id') ?? '');
    return job && job.userId === c.get('user').id ? job : undefined;
  };
  const filesUrl = (job: StudioJob) => (file: string) => `/api/v1/jobs/${job.id}/files/${file.split('/').map(encodeURIComponent).join('/')}`;

  api.get('/modules', (c) => c.json({ modules: catalog.modules.map(({ name, description, ref, tags, inputs, credits }) => ({ name, description, ref, tags, inputs, credits })) }));

  api.get('/account', (c) => {
    const user = store.user(c.get('user').id)!;
    return c.json({ email: user.email, credits: user.credits, spent: store.spentBy(user.id) });
  });

  api.post('/jobs', async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as { module?: unknown; inputs?: unknown } | undefined;
    if (!body || typeof body !== 'object') return apiError(c, 400, 'body-malformed', 'send JSON: {"module": "cowsay:v0.0.1", "inputs": {"Message": "moo"}}');
    try {
      const job = jobs.start(c.get('user').id, body, 'api', c.get('keyId'));
      return c.json({ id: job.id, status: job.status, credits: job.credits }, 201);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      return apiError(c, statusOfJobError(error.code), error.code, error.message);
    }
  });

  api.get('/jobs', async (c) => c.json({ jobs: await Promise.all(store.jobsOf(c.get('user').id).map((job) => jobView(job, filesUrl(job)))) }));

  api.get('/jobs/:id', async (c) => {
    const job = ownJob(c);
    if (!job) return apiError(c, 404, 'job-not-found', `no job ${c.req.param('id')} of yours`);
    return c.json(await jobView(job, filesUrl(job)));
  });

  api.get('/jobs/:id/events', (c) => {
    const job = ownJob(c);
    if (!job) return apiError(c, 404, 'job-not-found', `no job ${c.req.param('id')} of yours`);
    return followJobEvents(c, jobs, job.id, filesUrl(job));
  });

  api.get('/jobs/:id/files/*', async (c) => {
    const job = ownJob(c);
    if (!job) return apiError(c, 404, 'job-not-found', `no job ${c.req.param('id')} of yours`);
    return (await sendResultFile(c, job)) ?? apiError(c, 404, 'file-not-found', 'no such file in the job\'s result');
  });

  // Uploads' own body limit, after the key check: nobody without a key makes the studio read that much.
  api.post('/uploads', uploadLimit, async (c) => {
    try {
      const { cid, name, size } = await uploads.add(c.get('user').id, await filesOfRequest(c, 'file'));
      return c.json({ cid, name, size }, 201);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      return apiError(c, 400, error.code, error.message);
    }
  });

  api.get('/uploads', (c) => c.json({ uploads: store.uploadsOf(c.get('user').id).map(({ cid, name, size, createdAt }) => ({ cid, name, size, createdAt: new Date(createdAt).toISOString() })) }));

  // Anything else under /api/v1 is answered here, in JSON, and never falls through to the web app's pages.
  api.all('*', (c) => apiError(c, 404, 'not-found', `no such API route: ${c.req.method} ${c.req.path}`));

  return api;
}
