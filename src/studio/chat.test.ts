import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChatRequestError, chatJobInputs, chatMessages, chatPrompt, cutAtStop, parseChatDeclaration, ReplyStream } from './chat.js';

const llmManifest = JSON.parse(readFileSync(new URL('../../modules/llm/module.json', import.meta.url), 'utf8'));
const llm = parseChatDeclaration('llm', llmManifest.chat, llmManifest.inputs)!;

describe('the chat template', () => {
  it('turns a conversation into llm\'s prompt: the system text, then Q:/A: turns as the fortunes\' riddles are written, ending where the answer goes', () => {
    const prompt = chatPrompt(llm, [
      { role: 'system', content: 'Short and wise.' },
      { role: 'user', content: 'Why?' },
      { role: 'assistant', content: 'Because.' },
      { role: 'user', content: 'Why not?' },
    ]);
    expect(prompt).toBe('Short and wise.\n\nQ:\tWhy?\nA:\tBecause.\n\nQ:\tWhy not?\nA:\t');
  });

  it('takes OpenAI\'s message shapes: text parts, developer as system; refuses other roles, images, and a conversation not ending with the user', () => {
    expect(chatMessages([{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] }])).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
    ]);
    const param = (raw: unknown) => {
      try {
        chatMessages(raw);
      } catch (error) {
        return (error as ChatRequestError).param;
      }
      return 'accepted';
    };
    expect(param(undefined)).toBe('messages');
    expect(param([{ role: 'function', content: 'x' }])).toBe('messages[0].role');
    expect(param([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }])).toBe('messages[0].content[0]');
    expect(param([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b', tool_calls: [] }])).toBe('messages[1].tool_calls');
    expect(param([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).toBe('messages');
    expect(param([{ role: 'user', content: 42 }])).toBe('messages[0].content');
  });

  it('puts each setting in the input the module declared, within its bounds', () => {
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    expect(chatJobInputs(llm, messages, {})).toEqual({ Prompt: 'Q:\tHi\nA:\t' });
    expect(chatJobInputs(llm, messages, { maxTokens: 256, temperature: 0, seed: 9007199254740991 })).toEqual({ Prompt: 'Q:\tHi\nA:\t', MaxTokens: '256', Temperature: '0', Seed: '9007199254740991' });
    expect(() => chatJobInputs(llm, messages, { maxTokens: 2.5 })).toThrow('max_tokens must be a whole number from 1 to 256, not 2.5');
    expect(() => chatJobInputs(llm, messages, { temperature: '1' })).toThrow('temperature must be a number from 0 to 2, not "1"');
    expect(() => chatJobInputs({ ...llm, seed: undefined }, messages, { seed: 1 })).toThrow('this model does not take seed');
  });

  it('refuses a malformed chat declaration, naming what is wrong', () => {
    const inputs = [
      { name: 'P', type: 'string' as const, description: 'the prompt' },
      { name: 'Style', type: 'string' as const, description: 'not a number' },
      { name: 'M', type: 'integer' as const, description: 'tokens', min: 1, max: 8 },
    ];
    const template = { system: '', user: '', assistant: '', reply: '' };
    expect(() => parseChatDeclaration('m', { prompt: 'P' }, inputs)).toThrow('module m: its module.json "chat" key needs a template');
    expect(() => parseChatDeclaration('m', { prompt: 'Q', template }, inputs)).toThrow('names "Q" as prompt, which is not one of the module\'s declared inputs');
    expect(() => parseChatDeclaration('m', { prompt: 'P', template, max_tokens: 'Style' }, inputs)).toThrow('needs max_tokens to name a number input with a min and a max');
    expect(parseChatDeclaration('m', { prompt: 'P', template, max_tokens: 'M' }, inputs)!.maxTokens).toEqual({ input: 'M', min: 1, max: 8 });
    expect(() => parseChatDeclaration('m', { prompt: 'P', template, stop: [''] }, inputs)).toThrow('needs stop as a list of non-empty strings');
  });
});

describe('stop sequences and the streamed reply', () => {
  it('cuts a completion at the earliest stop sequence', () => {
    expect(cutAtStop('a fortune.\n\nQ:\tmore', ['\n\n'])).toEqual({ reply: 'a fortune.', stopped: true });
    expect(cutAtStop('abc', ['c', 'b'])).toEqual({ reply: 'a', stopped: true });
    expect(cutAtStop('abc', [])).toEqual({ reply: 'abc', stopped: false });
  });

  it('shows the preview as it comes, holding back what may be the start of a stop sequence, and nothing after one', () => {
    const reply = new ReplyStream(['\n\n']);
    expect(reply.preview('Hello')).toBe('Hello');
    expect(reply.preview(' there\n')).toBe(' there');
    expect(reply.preview('and')).toBe('\nand');
    expect(reply.preview('.\n')).toBe('.');
    expect(reply.preview('\nQ:\tNext')).toBe('');
    expect(reply.finish('Hello there\nand.\n\nQ:\tNext one')).toEqual({ ok: true, rest: '', reply: 'Hello there\nand.', stopped: true });
  });

  it('sends what the preview lacked once the result is verified, all of it when there was no preview', () => {
    const partial = new ReplyStream(['\n\n']);
    partial.preview('Hel');
    expect(partial.finish('Hello')).toEqual({ ok: true, rest: 'lo', reply: 'Hello', stopped: false });
    expect(new ReplyStream(['\n\n']).finish('All at the end')).toEqual({ ok: true, rest: 'All at the end', reply: 'All at the end', stopped: false });
  });

  it('says so when the verified result contradicts what the preview showed', () => {
    const lied = new ReplyStream(['\n\n']);
    expect(lied.preview('Buy my coin')).toBe('Buy my coin');
    expect(lied.finish('A fortune.')).toEqual({ ok: false, reply: 'A fortune.' });
    // Text held back and never shown may differ: the client saw none of it.
    const held = new ReplyStream(['STOP']);
    expect(held.preview('ok ST')).toBe('ok ');
    expect(held.finish('ok SO')).toEqual({ ok: true, rest: 'SO', reply: 'ok SO', stopped: false });
  });
});
