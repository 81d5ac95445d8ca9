/**
 * Chat over a text-completion module: what a module declares about it (the `chat` key of its module.json),
 * how a conversation becomes the module's prompt (the declared template, applied here and nowhere else),
 * how a reply is cut at a stop sequence, and how a reply streams from the provider's preview of stdout to
 * the verified result. The OpenAI-compatible routes and the chat page both build on this.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../lib/errors.js';
import type { InputDeclaration } from '../module/inputs.js';

export interface ChatBound {
  /** The module input that takes the value. */
  input: string;
  min: number;
  max: number;
}

/** A module's `chat` key: which inputs take the prompt and the sampling settings, and its chat template. */
export interface ChatDeclaration {
  prompt: string;
  maxTokens?: ChatBound;
  temperature?: ChatBound;
  seed?: { input: string };
  /**
   * Each message becomes its role's text with `{content}` replaced by the message's text; the turns are
   * joined as they are, and `reply` is added at the end, where the model writes.
   */
  template: { system: string; user: string; assistant: string; reply: string };
  /** Where a reply ends, unless the request names its own stop sequences. */
  stop: string[];
}

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/**
 * Reads and checks a module.json's `chat` key (undefined: the module does not chat); a bad one is the module
 * author's error. The sampling settings name inputs (`"max_tokens": "MaxTokens"`), whose bounds are the
 * inputs' declared ones, so that one declaration holds them.
 */
export function parseChatDeclaration(moduleName: string, raw: unknown, inputs: InputDeclaration[]): ChatDeclaration | undefined {
  if (raw === undefined) return undefined;
  const fail = (what: string): never => {
    throw new UserInputError(`module ${moduleName}: its module.json "chat" key ${what}`, { code: 'module-invalid' });
  };
  if (!raw || typeof raw !== 'object') fail('must be an object');
  const chat = raw as Record<string, unknown>;
  const text = (value: unknown, name: string) => (typeof value === 'string' ? value : fail(`needs ${name} as a string`));
  const declared = (value: unknown, name: string) => {
    const input = inputs.find((i) => i.name === value);
    return input ?? fail(`names ${JSON.stringify(value)} as ${name}, which is not one of the module's declared inputs`);
  };
  const bound = (value: unknown, name: string): ChatBound | undefined => {
    if (value === undefined) return undefined;
    const input = declared(value, name);
    if ((input.type !== 'integer' && input.type !== 'number') || input.min === undefined || input.max === undefined) {
      fail(`needs ${name} to name a number input with a min and a max`);
    }
    return { input: input.name, min: Number(input.min), max: Number(input.max) };
  };
  const template = (chat.template ?? fail('needs a template')) as Record<string, unknown>;
  const stop = chat.stop ?? [];
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s !== '')) fail('needs stop as a list of non-empty strings');
  return {
    prompt: declared(chat.prompt, 'prompt').name,
    ...(chat.max_tokens !== undefined ? { maxTokens: bound(chat.max_tokens, 'max_tokens') } : {}),
    ...(chat.temperature !== undefined ? { temperature: bound(chat.temperature, 'temperature') } : {}),
    ...(chat.seed !== undefined ? { seed: { input: declared(chat.seed, 'seed').name } } : {}),
    template: {
      system: text(template.system, 'template.system'),
      user: text(template.user, 'template.user'),
      assistant: text(template.assistant, 'template.assistant'),
      reply: text(template.reply, 'template.reply'),
    },
    stop: stop as string[],
  };
}

/** The conversation as the module's prompt, by the module's template. */
export function chatPrompt(chat: ChatDeclaration, messages: ChatMessage[]): string {
  return messages.map((m) => chat.template[m.role].split('{content}').join(m.content)).join('') + chat.template.reply;
}

/** The reply in a completion: everything before the first stop sequence, and whether one was there. */
export function cutAtStop(completion: string, stop: string[]): { reply: string; stopped: boolean } {
  let at = -1;
  for (const sequence of stop) {
    const found = completion.indexOf(sequence);
    if (found >= 0 && (at < 0 || found < at)) at = found;
  }
  return at < 0 ? { reply: completion, stopped: false } : { reply: completion.slice(0, at), stopped: true };
}

/**
 * A reply as it streams. `preview` takes the provider's stdout as it arrives (unverified) and gives the
 * reply text that may be shown now: never text after a stop sequence, and never the start of what may yet
 * become one. `finish` takes the verified stdout (checked against the result's CID) and gives what the
 * preview lacked, or says the preview showed something else.
 */
export class ReplyStream {
  private previewed = '';
  /** The reply text handed out so far. */
  shown = '';

  constructor(private readonly stop: string[]) {}

  preview(text: string): string {
    this.previewed += text;
    const { reply, stopped } = cutAtStop(this.previewed, this.stop);
    const safe = stopped ? reply : reply.slice(0, reply.length - this.heldBack(reply));
    if (safe.length <= this.shown.length) return '';
    const fresh = safe.slice(this.shown.length);
    this.shown = safe;
    return fresh;
  }

  finish(verifiedStdout: string): { ok: true; rest: string; reply: string; stopped: boolean } | { ok: false; reply: string } {
    const { reply, stopped } = cutAtStop(verifiedStdout, this.stop);
    if (!reply.startsWith(this.shown)) return { ok: false, reply };
    return { ok: true, rest: reply.slice(this.shown.length), reply, stopped };
  }

  /** How many characters at the end of `text` could be the start of a stop sequence. */
  private heldBack(text: string): number {
    let longest = 0;
    for (const sequence of this.stop) {
      for (let length = Math.min(sequence.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(sequence.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}

/** Token counts from a result's `outputs/completion.json` (as llm writes it), when it has them. */
export interface CompletionTokens {
  prompt: number;
  prompt_used: number;
  completion: number;
}

export async function completionTokens(resultDir: string | undefined): Promise<CompletionTokens | undefined> {
  if (!resultDir) return undefined;
  const text = await readFile(path.join(resultDir, 'outputs', 'completion.json'), 'utf8').catch(() => undefined);
  try {
    const tokens = text === undefined ? undefined : (JSON.parse(text) as { tokens?: Partial<CompletionTokens> }).tokens;
    if (tokens && [tokens.prompt, tokens.prompt_used, tokens.completion].every((n) => Number.isInteger(n))) return tokens as CompletionTokens;
  } catch {
    // A result without readable token counts has no usage to report.
  }
  return undefined;
}

/** A chat request the studio cannot run, naming the parameter at fault (OpenAI's names: `messages`, `max_tokens`, ...). */
export class ChatRequestError extends UserInputError {
  constructor(
    readonly param: string | null,
    message: string,
    code = 'invalid_value',
  ) {
    super(message, { code });
  }
}

const ROLES: Record<string, ChatRole> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

/**
 * Messages in OpenAI's shape as the template's turns: `system` (and `developer`, its newer name), `user` and
 * `assistant`, each with text content (a string, or text parts); the last one is the user's.
 */
export function chatMessages(raw: unknown): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new ChatRequestError('messages', 'messages must be a non-empty list, for example [{"role": "user", "content": "Hello"}]', raw === undefined ? 'missing_required_parameter' : 'invalid_value');
  }
  const messages = raw.map((message: unknown, index): ChatMessage => {
    const at = `messages[${index}]`;
    if (!message || typeof message !== 'object') throw new ChatRequestError(at, `${at} must be an object with a role and content`);
    const { role, content, tool_calls: toolCalls, function_call: functionCall } = message as Record<string, unknown>;
    const chatRole = typeof role === 'string' ? ROLES[role] : undefined;
    if (!chatRole) {
      throw new ChatRequestError(`${at}.role`, `${at}.role ${JSON.stringify(role)} is not supported: this model takes system, user and assistant messages (no tools or functions)`);
    }
    if (toolCalls !== undefined || functionCall !== undefined) throw new ChatRequestError(`${at}.tool_calls`, `${at}: this model has no tools or functions`, 'unsupported_parameter');
    if (typeof content === 'string') return { role: chatRole, content };
    if (Array.isArray(content)) {
      const parts = content.map((part: unknown, partIndex) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        if (!p || p.type !== 'text' || typeof p.text !== 'string') {
          throw new ChatRequestError(`${at}.content[${partIndex}]`, `${at}.content[${partIndex}]: this model reads text only (parts of type "text")`);
        }
        return p.text;
      });
      return { role: chatRole, content: parts.join('') };
    }
    throw new ChatRequestError(`${at}.content`, `${at}.content must be text`);
  });
  if (messages.at(-1)!.role !== 'user') {
    throw new ChatRequestError('messages', `the last message must be the user's (it is ${raw.length > 0 ? `a ${messages.at(-1)!.role} message` : 'missing'}): the model writes the assistant's next reply`);
  }
  return messages;
}

export interface ChatSettings {
  maxTokens?: unknown;
  temperature?: unknown;
  seed?: unknown;
}

/**
 * A job's inputs for a conversation: the prompt by the template, and each setting given, in the input the
 * module declared for it and within its bounds. Settings left out take the module's defaults.
 */
export function chatJobInputs(chat: ChatDeclaration, messages: ChatMessage[], settings: ChatSettings): Record<string, string> {
  const inputs: Record<string, string> = { [chat.prompt]: chatPrompt(chat, messages) };
  const set = (param: string, value: unknown, target: { input: string } | undefined, check: (n: number) => boolean, wanted: string) => {
    if (value === undefined || value === null) return;
    if (!target) throw new ChatRequestError(param, `this model does not take ${param}`, 'unsupported_parameter');
    if (typeof value !== 'number' || !check(value)) throw new ChatRequestError(param, `${param} must be ${wanted}, not ${JSON.stringify(value)}`);
    inputs[target.input] = String(value);
  };
  const { maxTokens, temperature, seed } = chat;
  set('max_tokens', settings.maxTokens, maxTokens, (n) => Number.isInteger(n) && n >= maxTokens!.min && n <= maxTokens!.max, `a whole number from ${maxTokens?.min} to ${maxTokens?.max}`);
  set('temperature', settings.temperature, temperature, (n) => n >= temperature!.min && n <= temperature!.max, `a number from ${temperature?.min} to ${temperature?.max}`);
  set('seed', settings.seed, seed, (n) => Number.isSafeInteger(n) && n >= 0, 'a whole number from 0 to 2^53 - 1');
  return inputs;
}
