/**
 * The studio and typed module inputs, on a real studio in front of a real embedded network: the API refuses a
 * bad input with 400 and one line per input and takes no credits, takes JSON numbers for typed inputs, and
 * lists the declarations; the module form is made from them and shows the same message; and the public
 * OpenAPI document is valid OpenAPI 3.1 whose module schemas refuse what the studio refuses.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

let studio: TestStudio;
let web: WebClient;
let key: string;

beforeAll(async () => {
  studio = await startTestStudio();
  web = new WebClient(studio.url);
  expect((await web.signUp('ada@example.com', 'correct horse battery')).status).toBe(303);
  key = await web.createKey('typed inputs');
});
afterAll(async () => {
  await studio?.end();
});

const api = (route: string, init: RequestInit = {}) =>
  fetch(studio.url + '/api/v1' + route, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } });
const postJob = (body: unknown) => api('/jobs', { method: 'POST', body: JSON.stringify(body) });
const credits = async () => ((await (await api('/account')).json()) as { credits: number }).credits;
const jobCount = async () => ((await (await api('/jobs')).json()) as { jobs: unknown[] }).jobs.length;

/** Requests the studio refuses, with the lines it answers: each the llm module's schema must refuse too. */
const refusedRequests: Array<{ inputs: Record<string, unknown>; lines: string[] }> = [
  { inputs: { Prompt: 'The lily', MaxTokens: 300 }, lines: ['MaxTokens: 300 is more than the most, 256'] },
  { inputs: { Prompt: 'The lily', Temperature: 'hot', MaxTokens: 2.5 }, lines: ['MaxTokens: 2.5 is not a whole number (give one from 1 to 256)', 'Temperature: "hot" is not a number (give one from 0 to 2)'] },
  { inputs: { MaxTokens: 16 }, lines: ['Prompt: missing; it is required (The text to continue)'] },
  { inputs: { Prompt: 'The lily', Colour: 'red' }, lines: ['Colour: llm:v1 has no such input; its inputs are Prompt, Seed, MaxTokens, Temperature, WeightsCID'] },
  { inputs: { Prompt: 'The lily', Temperature: -0.5, WeightsCID: 'my-weights' }, lines: ['Temperature: -0.5 is less than the least, 0', 'WeightsCID: "my-weights" is not a CID (give a CID such as bafy... (or a path inside one), or @PATH to send local data with lilypad run)'] },
];

describe('the API with typed inputs', () => {
  it('refuses a bad input with 400 and one line per bad input, and takes no credits', async () => {
    expect(await credits()).toBe(100);
    for (const { inputs, lines } of refusedRequests) {
      const refused = await postJob({ module: 'llm:v1', inputs });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as any).error).toEqual({ code: 'input-invalid', message: lines.join('\n') });
    }
    expect(await credits()).toBe(100);
    expect(await jobCount()).toBe(0);
  });

  it('lists each module with its declarations as module.json has them', async () => {
    const { modules } = (await (await api('/modules')).json()) as { modules: Array<{ name: string; inputs: unknown[] }> };
    for (const name of ['cowsay', 'llm', 'lora-training']) {
      const manifest = JSON.parse(await readFile(path.join(repoRoot, 'modules', name, 'module.json'), 'utf8'));
      expect(modules.find((module) => module.name === name)!.inputs).toEqual(manifest.inputs);
    }
  });

  it('takes a JSON number for an integer input, and runs the job with the canonical text', async () => {
    const posted = await postJob({ module: 'spin', inputs: { Rounds: 1 } });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    const events = await readEvents(await api(`/jobs/${id}/events`));
    expect(events.at(-1)!.data).toMatchObject({ id, module: 'spin:v0.0.1', inputs: { Rounds: '1' }, status: 'succeeded', exitCode: 0 });
    expect(await credits()).toBe(98);
  }, 60_000);
});

describe('the module form', () => {
  it('renders each input by its type, prefilled with its default, the required ones marked', async () => {
    const page = (await (await web.fetch('/modules/llm')).text()).replace(/\s+/g, ' ');
    expect(page).toContain('<textarea id="input-Prompt" name="input.Prompt" rows="2" required');
    expect(page).toContain('<label for="input-Prompt">Prompt <span class="required">required</span></label>');
    expect(page).toContain('<input type="number" id="input-MaxTokens" name="input.MaxTokens" value="64" step="1" min="1" max="256"');
    expect(page).toContain('<input type="number" id="input-Temperature" name="input.Temperature" value="0.5" step="any" min="0" max="2"');
    expect(page).toContain('<input type="text" id="input-WeightsCID" name="input.WeightsCID" value="bafy');
    expect(page).toContain('How many tokens to write (a whole number, 1 to 256)');
    // The curl example names the required inputs only: the rest have defaults.
    expect(page).toContain(`-d '${JSON.stringify({ module: 'llm:v1', inputs: { Prompt: '...' } }).replaceAll('"', '&quot;')}'`);
  });

  it('shows one line per bad input, with the page and with the form\'s script, and takes no credits', async () => {
    const before = await credits();
    const fields = { csrf: await web.csrfOf('/modules/llm'), module: 'llm:v1', 'input.Prompt': 'The lily', 'input.MaxTokens': '999', 'input.Temperature': '3', 'input.Seed': '' };
    const page = await web.post('/jobs', fields);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('<div class="notice error">MaxTokens: 999 is more than the most, 256\nTemperature: 3 is more than the most, 2</div>');
    const scripted = await web.post('/jobs', fields, { accept: 'application/json' });
    expect(scripted.status).toBe(400);
    expect(((await scripted.json()) as any).error).toEqual({ code: 'input-invalid', message: 'MaxTokens: 999 is more than the most, 256\nTemperature: 3 is more than the most, 2' });
    expect(await credits()).toBe(before);
  });
});

describe('the OpenAPI document', () => {
  let document: any;

  it('is public, and valid OpenAPI 3.1', async () => {
    const response = await fetch(studio.url + '/api/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    document = await response.json();
    expect(document.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes the job routes with a request body per module, the OpenAI-compatible routes, the error shapes and bearer keys', () => {
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/jobs/{id}/events', '/api/v1/modules', '/v1/models', '/v1/chat/completions']));
    expect(document.components.securitySchemes.apiKey).toEqual({ type: 'http', scheme: 'bearer', description: expect.any(String) });
    expect(document.paths['/api/openapi.json'].get.security).toEqual([]);
    const schemas = document.components.schemas;
    expect(schemas.JobRequest.oneOf).toEqual(['cowsay', 'llm', 'lora_inference', 'lora_training', 'spin'].map((name) => ({ $ref: `#/components/schemas/JobRequest_${name}` })));
    expect(schemas.JobRequest_llm.properties.inputs.properties.MaxTokens).toEqual({ type: 'integer', minimum: 1, maximum: 256, default: 64, description: 'How many tokens to write' });
    expect(schemas.JobRequest_llm.properties.inputs.required).toEqual(['Prompt']);
    expect(schemas.Error.properties.error.required).toEqual(['code', 'message']);
    expect(schemas.OpenAIError.properties.error.required).toEqual(['message', 'type', 'code']);
    expect(Object.keys(schemas.ChatCompletionRequest.properties)).toEqual(['model', 'messages', 'stream', 'max_tokens', 'temperature', 'seed']);
    expect(document.paths['/v1/chat/completions'].post.responses['200'].content).toHaveProperty('text/event-stream');
  });

  it('refuses, in a module\'s schema, what the studio refuses, and takes what it takes', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const llm = ajv.compile(document.components.schemas.JobRequest_llm);
    for (const { inputs } of refusedRequests) expect(llm({ module: 'llm:v1', inputs }), JSON.stringify(inputs)).toBe(false);
    expect(llm({ module: 'llm:v1', inputs: { Prompt: 'The lily', MaxTokens: 256, Temperature: 0, Seed: 7 } })).toBe(true);
    expect(llm({ module: 'llm:v9', inputs: { Prompt: 'The lily' } })).toBe(false);
    const spin = ajv.compile(document.components.schemas.JobRequest_spin);
    expect(spin({ module: 'spin', inputs: { Rounds: 1 } })).toBe(true);
    expect(spin({ module: 'spin', inputs: { Rounds: -1 } })).toBe(false);
  });
});
