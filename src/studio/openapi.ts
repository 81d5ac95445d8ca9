/**
 * The studio's OpenAPI 3.1 document (`GET /api/openapi.json`, public): the job API with one request body per
 * module, its inputs as JSON Schema made from the module's declared inputs (`module/inputs.ts`), so that the
 * document, the form and the checks never disagree; and the OpenAI-compatible routes (`/v1/models`,
 * `/v1/chat/completions`) in OpenAI's own terms; and uploads, whose CIDs cid inputs take. Built once from the catalog when the studio starts.
 */
import { inputsJsonSchema, INPUT_TYPES } from '../module/inputs.js';
import type { Catalog, CatalogModule } from './catalog.js';
import { DEFAULT_MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES } from './uploads.js';

export const OPENAPI_PATH = '/api/openapi.json';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description: string) => ({ description, content: { 'application/json': { schema } } });
const apiError = (description: string) => json(ref('Error'), description);
const openAiError = (description: string) => json(ref('OpenAIError'), description);

/** The name of a module's request body schema: `JobRequest_lora_training`. */
function requestSchemaName(module: CatalogModule): string {
  return `JobRequest_${module.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** A job request for one module: its names (`cowsay`, `cowsay:v0.0.1`) and its inputs' schema. */
function jobRequestSchema(module: CatalogModule): Schema {
  const inputs = inputsJsonSchema(module.inputs);
  const needsInputs = module.inputs.some((input) => input.required);
  return {
    type: 'object',
    title: module.ref,
    description: module.description,
    properties: {
      module: { type: 'string', enum: [module.name, ...module.tags.map((tag) => `${module.name}:${tag}`)], description: `the module: ${module.name} runs ${module.ref}` },
      inputs: { ...inputs, description: 'The module\'s inputs. Numbers and true/false may also be given as text ("64", "true"), as on the command line.' },
    },
    required: needsInputs ? ['module', 'inputs'] : ['module'],
    additionalProperties: false,
  };
}

const inputDeclarationSchema: Schema = {
  type: 'object',
  description: 'One input a module declares (its module.json): what the form shows and the API checks.',
  properties: {
    name: { type: 'string', description: 'the name in the inputs object (and the module template\'s {{ .Name }})' },
    type: { type: 'string', enum: [...INPUT_TYPES] },
    description: { type: 'string' },
    default: { type: ['string', 'number', 'boolean'], description: 'used when the input is left out' },
    required: { type: 'boolean' },
    min: { type: 'number', description: 'least value of an integer or number, inclusive' },
    max: { type: 'number', description: 'most value of an integer or number, inclusive' },
    maxLength: { type: 'integer', description: 'most characters of a string' },
    values: { type: 'array', items: { type: 'string' }, description: 'the choices of an enum' },
  },
  required: ['name', 'type', 'description'],
};

const jobSchema: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string', examples: ['job_3hG9k2LmQpX7'] },
    module: { type: 'string', description: 'NAME:TAG' },
    inputs: { type: 'object', additionalProperties: { type: 'string' }, description: 'the inputs as the module received them: canonical text, defaults filled in' },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
    credits: { type: 'integer', description: 'what the job costs (reserved when it is asked for)' },
    refunded: { type: 'boolean', description: 'true when the credits came back: the job failed before a deal was agreed' },
    createdAt: { type: 'string', format: 'date-time' },
    dealId: { type: 'string', description: 'the deal on chain, once agreed' },
    cid: { type: 'string', description: 'the result folder\'s IPFS CID' },
    stdout: { type: 'string' },
    exitCode: { type: 'integer' },
    error: { type: 'string', description: 'why the job failed' },
    lpPaid: { type: 'string', description: 'what the studio paid the provider, in LP wei (decimal)' },
    files: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, size: { type: 'integer' }, url: { type: 'string' } }, required: ['path', 'size', 'url'] },
      description: 'the result\'s files (stdout, stderr, exitCode, outputs/...), once the job ended',
    },
  },
  required: ['id', 'module', 'inputs', 'status', 'credits', 'refunded', 'createdAt', 'files'],
};

/** The OpenAI-compatible routes, described as OpenAI describes them: existing clients work unchanged. */
const openAiSchemas: Record<string, Schema> = {
  OpenAIError: {
    type: 'object',
    description: 'An error as OpenAI\'s API gives it, so that OpenAI clients show it.',
    properties: {
      error: {
        type: 'object',
        properties: { message: { type: 'string' }, type: { type: 'string', examples: ['invalid_request_error'] }, code: { type: ['string', 'null'] }, param: { type: ['string', 'null'] } },
        required: ['message', 'type', 'code'],
      },
    },
    required: ['error'],
  },
  Model: {
    type: 'object',
    properties: { id: { type: 'string', examples: ['llm:v1'] }, object: { const: 'model' }, created: { type: 'integer' }, owned_by: { type: 'string' } },
    required: ['id', 'object', 'created', 'owned_by'],
  },
  ModelList: { type: 'object', properties: { object: { const: 'list' }, data: { type: 'array', items: ref('Model') } }, required: ['object', 'data'] },
  ChatMessage: {
    type: 'object',
    properties: { role: { type: 'string', enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } },
    required: ['role', 'content'],
  },
  ChatCompletionRequest: {
    type: 'object',
    properties: {
      model: { type: 'string', description: 'a model id from GET /v1/models' },
      messages: { type: 'array', items: ref('ChatMessage'), minItems: 1 },
      stream: { type: 'boolean', default: false, description: 'send the answer as Server-Sent Events of chat.completion.chunk objects, ending with data: [DONE]' },
      max_tokens: { type: 'integer', minimum: 1, description: 'the most tokens to write (the model\'s own cap applies)' },
      temperature: { type: 'number', minimum: 0, maximum: 2 },
      seed: { type: 'integer', minimum: 0, description: 'the same seed, model and messages give the same answer' },
    },
    required: ['model', 'messages'],
  },
  ChatCompletion: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      object: { const: 'chat.completion' },
      created: { type: 'integer' },
      model: { type: 'string' },
      choices: {
        type: 'array',
        items: {
          type: 'object',
          properties: { index: { type: 'integer' }, message: ref('ChatMessage'), finish_reason: { type: ['string', 'null'], enum: ['stop', 'length', null] } },
          required: ['index', 'message', 'finish_reason'],
        },
      },
      usage: {
        type: 'object',
        properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
      },
    },
    required: ['id', 'object', 'created', 'model', 'choices'],
  },
  ChatCompletionChunk: {
    type: 'object',
    description: 'One Server-Sent Event of a streamed answer (data: {...}); the stream ends with data: [DONE].',
    properties: {
      id: { type: 'string' },
      object: { const: 'chat.completion.chunk' },
      created: { type: 'integer' },
      model: { type: 'string' },
      choices: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            index: { type: 'integer' },
            delta: { type: 'object', properties: { role: { type: 'string' }, content: { type: 'string' } } },
            finish_reason: { type: ['string', 'null'], enum: ['stop', 'length', null] },
          },
          required: ['index', 'delta'],
        },
      },
    },
    required: ['id', 'object', 'created', 'model', 'choices'],
  },
};

/** Responses every authenticated route may give. */
const authResponses = {
  '401': apiError('no API key, or one that is unknown or revoked'),
  '429': { ...apiError('too many requests with this key'), headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds to wait' } } },
};
const jobIdParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

const uploadSchema: Schema = {
  type: 'object',
  properties: {
    cid: { type: 'string', description: 'the data\'s CID: pass it as a module\'s cid input (such as lora-training\'s DatasetCID)' },
    name: { type: 'string', description: 'the file\'s name, or "N files: a.txt, b.txt, …" for a folder' },
    size: { type: 'integer', description: 'bytes, all files together' },
  },
  required: ['cid', 'name', 'size'],
};

export function openApiDocument(catalog: Catalog, maxUploadBytes = DEFAULT_MAX_UPLOAD_BYTES): Schema {
  const uploadMiB = +(maxUploadBytes / 1024 / 1024).toFixed(2);
  const requestSchemas = Object.fromEntries(catalog.modules.map((module) => [requestSchemaName(module), jobRequestSchema(module)]));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lilypad AI Studio API',
      version: '1',
      description:
        'Run Lilypad modules from programs: a job API priced in credits and OpenAI-compatible chat routes. Send an API key (create one on the ' +
        'studio\'s API keys page) as "Authorization: Bearer <key>". Errors are JSON: { "error": { "code", "message" } } on /api/v1, OpenAI\'s ' +
        '{ "error": { "message", "type", "code" } } on /v1. A bad input is refused with one line per input that says what was wrong and what is allowed.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths: {
      [OPENAPI_PATH]: {
        get: {
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/api/v1/modules': {
        get: {
          summary: 'The modules the studio runs, with their inputs and prices',
          responses: {
            '200': json({ type: 'object', properties: { modules: { type: 'array', items: ref('Module') } }, required: ['modules'] }, 'the modules'),
            ...authResponses,
          },
        },
      },
      '/api/v1/account': {
        get: {
          summary: 'Your credits',
          responses: {
            '200': json({ type: 'object', properties: { email: { type: 'string' }, credits: { type: 'integer' }, spent: { type: 'integer' } }, required: ['email', 'credits', 'spent'] }, 'the account'),
            ...authResponses,
          },
        },
      },
      '/api/v1/jobs': {
        post: {
          summary: 'Run a module',
          description: 'Checks the inputs against the module\'s declarations, reserves the job\'s credits and queues it. Follow it with GET /api/v1/jobs/{id}/events.',
          requestBody: { required: true, content: { 'application/json': { schema: ref('JobRequest') } } },
          responses: {
            '201': json({ type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, credits: { type: 'integer' } }, required: ['id', 'status', 'credits'] }, 'the job was queued and its credits reserved'),
            '400': apiError('the body or an input is not what the module takes (code input-invalid: one line per bad input); nothing was charged'),
            '402': apiError('not enough credits (code insufficient-credits); nothing was charged'),
            '404': apiError('no such module (code module-unknown)'),
            '413': apiError('the request is larger than 4 MiB'),
            ...authResponses,
          },
        },
        get: {
          summary: 'Your jobs, newest first',
          responses: { '200': json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } }, required: ['jobs'] }, 'your jobs'), ...authResponses },
        },
      },
      '/api/v1/jobs/{id}': {
        get: {
          summary: 'A job of yours',
          parameters: [jobIdParameter],
          responses: { '200': json(ref('Job'), 'the job'), '404': apiError('no such job of yours'), ...authResponses },
        },
      },
      '/api/v1/jobs/{id}/events': {
        get: {
          summary: 'Follow a job (Server-Sent Events)',
          description: 'A `progress` event for each step so far and then each new one (data: {"type", "line", ...}), then one `result` event whose data is the job (as GET /api/v1/jobs/{id}), and the stream ends.',
          parameters: [jobIdParameter],
          responses: { '200': { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, '404': apiError('no such job of yours'), ...authResponses },
        },
      },
      '/api/v1/jobs/{id}/files/{path}': {
        get: {
          summary: 'A file of a job\'s result',
          parameters: [jobIdParameter, { name: 'path', in: 'path', required: true, schema: { type: 'string' }, description: 'stdout, stderr, exitCode or outputs/...' }],
          responses: { '200': { description: 'the file', content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } }, '404': apiError('no such job of yours, or no such file'), ...authResponses },
        },
      },
      '/api/v1/uploads': {
        post: {
          summary: 'Put data on the network: one file, or several as a folder',
          description:
            `Adds the files to the studio's blockstore, which its IPFS node serves to providers, and records them as yours. Send a multipart form with one \`file\` field (a UnixFS file: the CID \`lilypad add FILE\` gives) ` +
            `or several (a folder of them, by their file names: the CID \`lilypad add FOLDER\` gives), or the raw bytes of one file named by \`?name=\`. At most ${uploadMiB} MiB and ${MAX_UPLOAD_FILES} files. ` +
            'A CID names bytes, not a person: anyone may pass any CID as an input, and providers fetch the bytes to run jobs; your list shows only yours.',
          parameters: [{ name: 'name', in: 'query', required: false, schema: { type: 'string' }, description: 'the file\'s name, for a raw body (default "upload")' }],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'array', items: { type: 'string', contentMediaType: 'application/octet-stream' } } }, required: ['file'] } },
              'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
            },
          },
          responses: {
            '201': json(ref('Upload'), 'the data is on the network: pass its CID as an input'),
            '400': apiError('no file, a file name that cannot be a folder entry, or two files of one name (code upload-empty or upload-invalid); nothing was kept'),
            '413': apiError(`the upload is larger than ${uploadMiB} MiB (code upload-too-large); nothing was kept`),
            ...authResponses,
          },
        },
        get: {
          summary: 'Your uploads, newest first',
          responses: { '200': json({ type: 'object', properties: { uploads: { type: 'array', items: { ...uploadSchema, properties: { ...(uploadSchema.properties as Schema), createdAt: { type: 'string', format: 'date-time' } } } } }, required: ['uploads'] }, 'your uploads'), ...authResponses },
        },
      },
      '/v1/models': {
        get: {
          summary: 'The models (OpenAI-compatible)',
          responses: { '200': json(ref('ModelList'), 'the models the chat route runs'), '401': openAiError('no API key, or an unknown one'), '429': openAiError('too many requests with this key') },
        },
      },
      '/v1/chat/completions': {
        post: {
          summary: 'A chat completion (OpenAI-compatible)',
          description: 'Runs the model as a Lilypad job on the studio\'s account, charged in credits. With "stream": true the answer comes as Server-Sent Events of chat.completion.chunk objects, then data: [DONE].',
          requestBody: { required: true, content: { 'application/json': { schema: ref('ChatCompletionRequest') } } },
          responses: {
            '200': {
              description: 'the answer',
              content: { 'application/json': { schema: ref('ChatCompletion') }, 'text/event-stream': { schema: { type: 'string', description: 'data: <ChatCompletionChunk JSON> lines, then data: [DONE]' } } },
            },
            '400': openAiError('the request is malformed or asks for more than the model allows'),
            '401': openAiError('no API key, or an unknown one'),
            '402': openAiError('not enough credits'),
            '404': openAiError('no such model'),
            '429': openAiError('too many requests with this key'),
          },
        },
      },
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key from the studio\'s API keys page' } },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { code: { type: 'string', description: 'for programs: input-invalid, insufficient-credits, module-unknown, ...' }, message: { type: 'string', description: 'for people: what went wrong and what to do' } },
              required: ['code', 'message'],
            },
          },
          required: ['error'],
        },
        InputDeclaration: inputDeclarationSchema,
        Module: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            ref: { type: 'string', description: 'NAME:TAG, the version jobs run' },
            tags: { type: 'array', items: { type: 'string' } },
            inputs: { type: 'array', items: ref('InputDeclaration') },
            credits: { type: 'integer', description: 'credits one job costs' },
          },
          required: ['name', 'description', 'ref', 'tags', 'inputs', 'credits'],
        },
        Job: jobSchema,
        Upload: uploadSchema,
        JobRequest: { oneOf: catalog.modules.map((module) => ref(requestSchemaName(module))), description: 'One module and its inputs.' },
        ...requestSchemas,
        ...openAiSchemas,
      },
    },
  };
}
