import { expect, test } from 'vitest';
import { UserInputError } from '../lib/errors.js';
import { parseInputs } from './inputs.js';
import { INPUT_LIMITS } from './offers.js';

const fails = (entries: string[], message: RegExp, options: { flag?: string } = { flag: '-i' }) => {
  let thrown: unknown;
  try {
    parseInputs(entries, options);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(UserInputError);
  expect((thrown as Error).message).toMatch(message);
  expect((thrown as Error).message).not.toContain('\n');
};

test('the first = splits: the value keeps any further =, and may be empty', () => {
  expect(parseInputs(['Message=moo', 'Query=a=b==', 'Empty='])).toEqual({ Message: 'moo', Query: 'a=b==', Empty: '' });
  expect(parseInputs([])).toEqual({});
});

test('an entry without = or without a key names the entry and shows the form', () => {
  fails(['Message'], /^-i Message: inputs are KEY=VALUE, for example -i Message=moo$/);
  fails(['=moo'], /^-i =moo: inputs are KEY=VALUE/);
  fails([''], /^-i : inputs are KEY=VALUE/);
});

test('a key is a name a template can read: letters, digits and _, not starting with a digit', () => {
  expect(parseInputs(['_seed=1', 'Prompt2=a', 'Größe=3'])).toEqual({ _seed: '1', Prompt2: 'a', Größe: '3' });
  for (const key of ['my-key', 'a.b', '1st', 'two words', 'tab\there']) {
    fails([`${key}=x`], /an input name is letters, digits and _, not starting with a digit/);
  }
});

test('a key given twice is refused rather than one value lost', () => {
  fails(['Message=a', 'Message=b'], /^-i Message=…: Message is given twice; give each input once$/);
});

test('__proto__ is an input like any other', () => {
  const inputs = parseInputs(['__proto__=x']);
  expect(Object.keys(inputs)).toEqual(['__proto__']);
  expect(Object.getOwnPropertyDescriptor(inputs, '__proto__')?.value).toBe('x');
});

test('keys and values longer than the network takes are refused with their length', () => {
  fails([`${'K'.repeat(INPUT_LIMITS.keyLength + 1)}=moo`], /the input name is 257 characters; the network takes names of at most 256/);
  fails([`Message=${'a'.repeat(INPUT_LIMITS.valueLength + 1)}`], /^-i Message=…: the value is 65537 characters; the network takes at most 65536$/);
  expect(parseInputs([`${'K'.repeat(INPUT_LIMITS.keyLength)}=${'a'.repeat(INPUT_LIMITS.valueLength)}`])).toBeTruthy();
});

test('without a flag (the bridge), an entry is named as the input text', () => {
  fails(['Message'], /^input "Message": inputs are KEY=VALUE, for example Message=moo$/, {});
});
