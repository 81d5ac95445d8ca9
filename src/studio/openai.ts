/**
 * OpenAI-compatible routes at `/v1`, so that existing OpenAI clients work unchanged: `GET /v1/models` (the
 * modules whose module.json declares `chat`) and `POST /v1/chat/completions`, with and without `stream`.
 * A completion is a studio job like any other (the same key, rate limit, credits and daily cap as the REST
 * API); its job id, deal id and result CID ride along in the `lilypad` field and `x-lilypad-*` headers so
 * that a user can check the result. Every error is in OpenAI's shape: `{ error: { message, type, param, code } }`.
 */
import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { isUserFacing } from '../lib/errors.js';
import type { ApiKeyCheck } from './api-auth.js';
import type { Catalog, CatalogModule } from './catalog.js';
import { ChatRequestError, chatJobInputs, chatMessages, completionTokens, cutAtStop, ReplyStream, type ChatDeclaration } from './chat.js';
import type { StudioJobEvent, StudioJobs } from './jobs.js';
import type { ApiKey, StudioJob, User } from './store.js';

type OpenAiEnv = { Variables: { user: User; key: ApiKey } };

interface OpenAiError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export function openAiError(c: Context, status: 400 | 401 | 404 | 413 | 429 | 500 | 502, error: OpenAiError, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return c.json({ error }, status);
}

const invalidRequest = (message: string, param: string | null, code: string | null): OpenAiError => ({ message, type: 'invalid_request_error', param, code });
/** What retrying the same request cannot mend: OpenAI's clients obey this header over their own retry rules. */
const NO_RETRY = { 'x-should-retry': 'false' };
const KEEP_ALIVE_MS = 15_000;

export function createOpenAiApi(components: { jobs: StudioJobs; catalog: Catalog; checkApiKey: (c: Context) => ApiKeyCheck }): Hono<OpenAiEnv> {
  const { jobs, catalog, checkApiKey } = components;
  const app = new Hono<OpenAiEnv>();
  const listedSince = Math.floor(Date.now() / 1000);

  app.use('*', async (c, next) => {
    const checked = checkApiKey(c);
    if (!checked.ok) {
      if (checked.reason === 'rate-limited') {
        return openAiError(c, 429, { message: checked.message, type: 'requests', param: null, code: 'rate_limit_exceeded' }, { 'retry-after': String(checked.retryAfterSeconds) });
      }
      return openAiError(c, 401, invalidRequest(checked.message, null, 'invalid_api_key'));
    }
    c.set('user', checked.user);
    c.set('key', checked.key);
    await next();
  });

  // A chat module answers to its name (its latest tag) and to each `name:tag`.
  const chatModules = () => catalog.modules.filter((m): m is CatalogModule & { chat: ChatDeclaration } => m.chat !== undefined);
  const modelIds = () => chatModules().flatMap((m) => [m.name, ...m.tags.map((tag) => `${m.name}:${tag}`)]);
  const model = (id: string) => ({ id, object: 'model', created: listedSince, owned_by: 'lilypad' });
  const findModel = (id: unknown): (CatalogModule & { chat: ChatDeclaration }) | undefined => {
    if (typeof id !== 'string' || !modelIds().includes(id)) return undefined;
    return catalog.find(id) as CatalogModule & { chat: ChatDeclaration };
  };

  app.get('/models', (c) => c.json({ object: 'list', data: modelIds().map(model) }));
  app.get('/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    if (!findModel(id)) return openAiError(c, 404, invalidRequest(`The model '${id}' does not exist: the studio's chat models are ${modelIds().join(', ')}`, 'model', 'model_not_found'));
    return c.json(model(id));
  });

  app.post('/chat/completions', async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return openAiError(c, 400, invalidRequest('send a JSON object, for example {"model": "llm", "messages": [{"role": "user", "content": "Hello"}]}', null, 'invalid_json'));
    }
    const module = findModel(body.model);
    if (!module) {
      if (body.model === undefined) return openAiError(c, 400, invalidRequest('model is required, for example "llm"', 'model', 'missing_required_parameter'));
      return openAiError(c, 404, invalidRequest(`The model ${JSON.stringify(body.model)} does not exist: the studio's chat models are ${modelIds().join(', ')}`, 'model', 'model_not_found'));
    }
    let request: ReturnType<typeof completionRequest>;
    try {
      request = completionRequest(module, body);
    } catch (error) {
      if (error instanceof ChatRequestError) return openAiError(c, 400, invalidRequest(error.message, error.param, error.code));
      throw error;
    }

    let job: StudioJob;
    try {
      job = jobs.start(c.get('user').id, { module: module.ref, inputs: request.inputs }, 'api', c.get('key').id);
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      if (error.code === 'insufficient-credits') return openAiError(c, 429, { message: error.message, type: 'insufficient_quota', param: null, code: 'insufficient_quota' }, NO_RETRY);
      if (error.code === 'daily-cap-reached') return openAiError(c, 429, { message: error.message, type: 'insufficient_quota', param: null, code: 'daily_cap_reached' }, NO_RETRY);
      return openAiError(c, 400, invalidRequest(error.message, 'messages', error.code.replaceAll('-', '_')));
    }
    c.header('x-lilypad-job-id', job.id);
    const base = { id: `chatcmpl-${job.id}`, created: Math.floor(job.createdAt / 1000), model: job.module };
    const origin = new URL(c.req.url).origin;
    const lilypad = (finished: StudioJob) => ({
      job_id: finished.id,
      ...(finished.dealId ? { deal_id: finished.dealId } : {}),
      ...(finished.cid ? { cid: finished.cid } : {}),
      credits: finished.refunded ? 0 : finished.credits,
      job_url: `${origin}/api/v1/jobs/${finished.id}`,
    });
    const failure = (finished: StudioJob): OpenAiError & { job_id: string } => ({
      message: `the ${finished.module} job ${finished.id} failed: ${finished.error ?? 'no reason was given'}${finished.refunded ? ' (its credits were refunded)' : ''}`,
      type: 'server_error',
      param: null,
      code: 'job_failed',
      job_id: finished.id,
    });
    const finishReason = (stopped: boolean, tokens: { completion: number } | undefined) =>
      stopped || (request.maxTokens !== undefined && tokens !== undefined && tokens.completion < request.maxTokens) ? 'stop' : 'length';
    const usageOf = (tokens: { prompt_used: number; completion: number } | undefined) =>
      tokens && { prompt_tokens: tokens.prompt_used, completion_tokens: tokens.completion, total_tokens: tokens.prompt_used + tokens.completion };
    const signal = c.req.raw.signal;

    if (!request.stream) {
      let finished: StudioJob | undefined;
      for await (const item of followJob(jobs, job.id, signal)) if (item.type === 'end') finished = item.job;
      // The client went away: nobody reads this answer (the job goes on, and is charged).
      if (!finished) return c.body(null, 204);
      if (finished.status !== 'succeeded') return openAiError(c, 502, failure(finished), NO_RETRY);
      const { reply, stopped } = cutAtStop(finished.stdout ?? '', request.stop);
      const tokens = await completionTokens(finished.dir);
      if (finished.dealId) c.header('x-lilypad-deal-id', finished.dealId);
      if (finished.cid) c.header('x-lilypad-result-cid', finished.cid);
      return c.json({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: reply, refusal: null }, logprobs: null, finish_reason: finishReason(stopped, tokens) }],
        ...(tokens ? { usage: usageOf(tokens) } : {}),
        lilypad: lilypad(finished),
      });
    }

    // Streamed: the role at once, then the reply as the provider's preview of stdout arrives (job:output
    // events), then, once the result is verified against its CID, what the preview lacked together with the
    // finish reason and the result's ids. A preview that the verified result contradicts ends the stream
    // with an error (code `preview_mismatch`, carrying the verified reply) instead of [DONE].
    return streamSSE(c, async (stream: SSEStreamingApi) => {
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        stream.writeSSE({ data: JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...(request.includeUsage ? { usage: null } : {}), ...extra }) });
      const delta = (content: Record<string, string>, finish: string | null = null) => ({ index: 0, delta: content, logprobs: null, finish_reason: finish });
      const reply = new ReplyStream(request.stop);
      await chunk([delta({ role: 'assistant', content: '' })]);
      for await (const item of followJob(jobs, job.id, signal)) {
        if (item.type === 'quiet') await stream.write(': keep-alive\n\n');
        else if (item.type === 'event') {
          const text = item.event.type === 'job:output' && typeof item.event.text === 'string' ? reply.preview(item.event.text) : '';
          if (text) await chunk([delta({ content: text })]);
        } else {
          const finished = item.job;
          if (finished.status !== 'succeeded') {
            await stream.writeSSE({ data: JSON.stringify({ error: failure(finished) }) });
            return;
          }
          const verified = reply.finish(finished.stdout ?? '');
          if (!verified.ok) {
            const message = `the streamed preview of job ${finished.id} differs from its verified result (CID ${finished.cid}): discard the text streamed so far; the verified reply is in this error's lilypad.content`;
            await stream.writeSSE({ data: JSON.stringify({ error: { message, type: 'server_error', param: null, code: 'preview_mismatch', lilypad: { ...lilypad(finished), content: verified.reply } } }) });
            return;
          }
          const tokens = await completionTokens(finished.dir);
          await chunk([delta(verified.rest ? { content: verified.rest } : {}, finishReason(verified.stopped, tokens))], { lilypad: lilypad(finished) });
          if (request.includeUsage) await stream.writeSSE({ data: JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage: usageOf(tokens) ?? null }) });
          await stream.writeSSE({ data: '[DONE]' });
        }
      }
    });
  });

  app.all('*', (c) => openAiError(c, 404, invalidRequest(`Unknown request URL: ${c.req.method} ${c.req.path}. The studio serves GET /v1/models and POST /v1/chat/completions.`, null, 'unknown_url')));
  return app;
}

/** Parameters that change what the model would write, which this studio cannot honour: refused, not ignored. */
const UNSUPPORTED: Record<string, (value: unknown) => boolean> = {
  tools: (v) => !(Array.isArray(v) && v.length === 0),
  tool_choice: (v) => v !== 'none',
  functions: (v) => !(Array.isArray(v) && v.length === 0),
  function_call: (v) => v !== 'none',
  response_format: (v) => (v as { type?: unknown })?.type !== 'text',
  logprobs: (v) => v !== false,
  top_logprobs: () => true,
  top_p: (v) => v !== 1,
  frequency_penalty: (v) => v !== 0,
  presence_penalty: (v) => v !== 0,
  logit_bias: (v) => !(v && typeof v === 'object' && Object.keys(v).length === 0),
  audio: () => true,
  modalities: (v) => !(Array.isArray(v) && v.every((m) => m === 'text')),
  prediction: () => true,
  web_search_options: () => true,
};

/** A chat completion request as the module's job: its inputs, the stop sequences, and how to answer. */
function completionRequest(module: CatalogModule & { chat: ChatDeclaration }, body: Record<string, unknown>) {
  for (const [param, unsupported] of Object.entries(UNSUPPORTED)) {
    if (body[param] !== undefined && body[param] !== null && unsupported(body[param])) {
      throw new ChatRequestError(param, `${param} is not supported by ${module.ref}: it is a small text model that samples with temperature only`, 'unsupported_parameter');
    }
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw new ChatRequestError('n', `n must be 1: the studio writes one choice per request, not ${JSON.stringify(body.n)}`);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new ChatRequestError('stream', 'stream must be true or false');
  const stream = body.stream === true;
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined | null;
  if (streamOptions !== undefined && streamOptions !== null && !stream) throw new ChatRequestError('stream_options', 'stream_options is only allowed with stream: true');
  const { max_tokens: maxTokens, max_completion_tokens: maxCompletionTokens } = body;
  if (maxTokens != null && maxCompletionTokens != null && maxCompletionTokens !== maxTokens) {
    throw new ChatRequestError('max_completion_tokens', 'give max_tokens or max_completion_tokens, not two different values');
  }
  let stop = module.chat.stop;
  if (body.stop !== undefined && body.stop !== null) {
    const given = typeof body.stop === 'string' ? [body.stop] : body.stop;
    if (!Array.isArray(given) || given.length > 4 || !given.every((s) => typeof s === 'string' && s !== '')) {
      throw new ChatRequestError('stop', 'stop must be a non-empty string or a list of at most 4 of them');
    }
    stop = given as string[];
  }
  const wantedMaxTokens = maxCompletionTokens ?? maxTokens;
  let inputs: Record<string, string>;
  try {
    inputs = chatJobInputs(module.chat, chatMessages(body.messages), { maxTokens: wantedMaxTokens, temperature: body.temperature, seed: body.seed });
  } catch (error) {
    // Named after the parameter the caller used.
    if (error instanceof ChatRequestError && error.param === 'max_tokens' && maxCompletionTokens != null) throw new ChatRequestError('max_completion_tokens', error.message.replace('max_tokens', 'max_completion_tokens'), error.code);
    throw error;
  }
  return {
    inputs,
    stop,
    maxTokens: typeof wantedMaxTokens === 'number' ? wantedMaxTokens : undefined,
    stream,
    includeUsage: stream && streamOptions?.include_usage === true,
  };
}

type FollowedItem = { type: 'event'; event: StudioJobEvent } | { type: 'end'; job: StudioJob } | { type: 'quiet' };

/** A job's events as they come, then its end; `quiet` after a while without either; stops early when `signal` aborts. */
async function* followJob(jobs: StudioJobs, jobId: string, signal: AbortSignal): AsyncGenerator<FollowedItem> {
  const pending: FollowedItem[] = [];
  let wake: (() => void) | undefined;
  const stop = jobs.follow(jobId, {
    onEvent: (event) => {
      pending.push({ type: 'event', event });
      wake?.();
    },
    onEnd: (job) => {
      pending.push({ type: 'end', job });
      wake?.();
    },
  });
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    for (;;) {
      while (pending.length > 0) {
        const item = pending.shift()!;
        yield item;
        if (item.type === 'end') return;
      }
      if (signal.aborted) return;
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), KEEP_ALIVE_MS);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = undefined;
      if (!woken) yield { type: 'quiet' };
    }
  } finally {
    stop();
    signal.removeEventListener('abort', onAbort);
  }
}
