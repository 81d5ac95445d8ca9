import { describe, expect, test } from 'vitest';
import { UserInputError } from '../lib/errors.js';
import { checkInputs, inputsJsonSchema, parseInputDeclarations, typedDefault, type InputDeclaration } from './inputs.js';

const CID_TEXT = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';

const declarations = parseInputDeclarations(
  [
    { name: 'Prompt', type: 'string', description: 'The text to continue', required: true, maxLength: 10 },
    { name: 'MaxTokens', type: 'integer', description: 'How many tokens', default: 64, min: 1, max: 256 },
    { name: 'Temperature', type: 'number', description: 'Randomness', default: 0.5, min: 0, max: 2 },
    { name: 'Shout', type: 'boolean', description: 'Upper case', default: false },
    { name: 'Animal', type: 'enum', description: 'Who speaks', values: ['cow', 'dragon', 'tux'], default: 'cow' },
    { name: 'DataCID', type: 'cid', description: 'The data' },
  ],
  'test:v1',
)!;

/** The lines of the UserInputError that `given` gets, or [] when it passes. */
function problemsOf(given: Record<string, unknown>, against: InputDeclaration[] = declarations): string[] {
  try {
    checkInputs(against, given, 'test:v1');
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(UserInputError);
    expect((error as UserInputError).code).toBe('input-invalid');
    return (error as Error).message.split('\n');
  }
}

describe('checking inputs against declarations', () => {
  test('canonical strings in declaration order, defaults filled in, JSON values turned into text', () => {
    expect(checkInputs(declarations, { Prompt: 'hi' }, 'test:v1')).toEqual({ Prompt: 'hi', MaxTokens: '64', Temperature: '0.5', Shout: 'false', Animal: 'cow' });
    const given = { DataCID: CID_TEXT, Animal: 'tux', Shout: true, Temperature: 2, MaxTokens: 256, Prompt: 'x' };
    const checked = checkInputs(declarations, given, 'test:v1');
    expect(checked).toEqual({ Prompt: 'x', MaxTokens: '256', Temperature: '2', Shout: 'true', Animal: 'tux', DataCID: CID_TEXT });
    expect(Object.keys(checked)).toEqual(['Prompt', 'MaxTokens', 'Temperature', 'Shout', 'Animal', 'DataCID']);
    // Checking the canonical inputs again changes nothing.
    expect(checkInputs(declarations, checked, 'test:v1')).toEqual(checked);
  });

  test('integers: text or JSON, one spelling each, bounds inclusive', () => {
    const max = (value: unknown) => checkInputs(declarations, { Prompt: 'p', MaxTokens: value }, 't').MaxTokens;
    expect(max('007')).toBe('7');
    expect(max(' 12 ')).toBe('12');
    expect(max('+3')).toBe('3');
    expect(max(1)).toBe('1');
    expect(max(256)).toBe('256');
    expect(problemsOf({ Prompt: 'p', MaxTokens: 300 })).toEqual(['MaxTokens: 300 is more than the most, 256']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: '999' })).toEqual(['MaxTokens: 999 is more than the most, 256']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: '0' })).toEqual(['MaxTokens: 0 is less than the least, 1']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: '12.5' })).toEqual(['MaxTokens: "12.5" is not a whole number (give one from 1 to 256)']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: 2.5 })).toEqual(['MaxTokens: 2.5 is not a whole number (give one from 1 to 256)']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: 'lots' })).toEqual(['MaxTokens: "lots" is not a whole number (give one from 1 to 256)']);
    expect(problemsOf({ Prompt: 'p', MaxTokens: 1e300 })).toEqual(['MaxTokens: 1e+300 is not a whole number (give one from 1 to 256)']);
    // Far beyond a double's exact range, still compared exactly.
    expect(problemsOf({ Prompt: 'p', MaxTokens: '99999999999999999999999' })).toEqual(['MaxTokens: 99999999999999999999999 is more than the most, 256']);
  });

  test('numbers: decimal text or JSON, one spelling each; NaN and Infinity refused', () => {
    const temperature = (value: unknown) => checkInputs(declarations, { Prompt: 'p', Temperature: value }, 't').Temperature;
    expect(temperature('0.50')).toBe('0.5');
    expect(temperature('5e-1')).toBe('0.5');
    expect(temperature('.5')).toBe('0.5');
    expect(temperature('-0')).toBe('0');
    expect(temperature(0)).toBe('0');
    expect(temperature('2')).toBe('2');
    expect(problemsOf({ Prompt: 'p', Temperature: '2.01' })).toEqual(['Temperature: 2.01 is more than the most, 2']);
    expect(problemsOf({ Prompt: 'p', Temperature: -1 })).toEqual(['Temperature: -1 is less than the least, 0']);
    for (const bad of ['NaN', 'Infinity', '0x10', '1,5', 'warm']) {
      expect(problemsOf({ Prompt: 'p', Temperature: bad })).toEqual([`Temperature: ${JSON.stringify(bad)} is not a number (give one from 0 to 2)`]);
    }
  });

  test('booleans, enums, strings and CIDs', () => {
    expect(checkInputs(declarations, { Prompt: 'p', Shout: 'true' }, 't').Shout).toBe('true');
    expect(problemsOf({ Prompt: 'p', Shout: 'yes' })).toEqual(['Shout: "yes" is not true or false']);
    expect(problemsOf({ Prompt: 'p', Shout: 1 })).toEqual(['Shout: 1 is not true or false']);
    expect(problemsOf({ Prompt: 'p', Animal: 'cat' })).toEqual(['Animal: "cat" is not one of cow, dragon, tux']);
    expect(checkInputs(declarations, { Prompt: 'p', Animal: 'dragon' }, 't').Animal).toBe('dragon');
    // A string is taken as it is (spaces too), numbers as their text; its length counts characters, not bytes.
    expect(checkInputs(declarations, { Prompt: ' 12 ' }, 't').Prompt).toBe(' 12 ');
    expect(checkInputs(declarations, { Prompt: 42 }, 't').Prompt).toBe('42');
    expect(checkInputs(declarations, { Prompt: '🐄🐄🐄🐄🐄🐄🐄🐄🐄🐄' }, 't').Prompt).toBe('🐄🐄🐄🐄🐄🐄🐄🐄🐄🐄');
    expect(problemsOf({ Prompt: 'x'.repeat(11) })).toEqual(['Prompt: 11 characters is more than the most, 10']);
    expect(problemsOf({ Prompt: { text: 'hi' } })).toEqual(['Prompt: an object is not text']);
    for (const good of [CID_TEXT, `${CID_TEXT}/outputs/lora.safetensors`, `/ipfs/${CID_TEXT}`, 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n']) {
      expect(checkInputs(declarations, { Prompt: 'p', DataCID: good }, 't').DataCID).toBe(good);
    }
    expect(problemsOf({ Prompt: 'p', DataCID: 'not-a-cid' })).toEqual([
      'DataCID: "not-a-cid" is not a CID (give a CID such as bafy... (or a path inside one), or @PATH to send local data with lilypad run)',
    ]);
  });

  test('missing, unknown and blank inputs; every bad input gets its own line', () => {
    expect(problemsOf({})).toEqual(['Prompt: missing; it is required (The text to continue)']);
    expect(problemsOf({ Prompt: 'p', Colour: 'red' })).toEqual(['Colour: test:v1 has no such input; its inputs are Prompt, MaxTokens, Temperature, Shout, Animal, DataCID']);
    // A blank typed field is no value: the default, or nothing for an optional input without one.
    expect(checkInputs(declarations, { Prompt: 'p', MaxTokens: '', DataCID: ' ' }, 't')).toEqual({ Prompt: 'p', MaxTokens: '64', Temperature: '0.5', Shout: 'false', Animal: 'cow' });
    // ...but an empty string is a string.
    expect(checkInputs(declarations, { Prompt: '' }, 't').Prompt).toBe('');
    expect(problemsOf({ MaxTokens: 300, Temperature: 'hot', Extra: 1 })).toEqual([
      'Extra: test:v1 has no such input; its inputs are Prompt, MaxTokens, Temperature, Shout, Animal, DataCID',
      'Prompt: missing; it is required (The text to continue)',
      'MaxTokens: 300 is more than the most, 256',
      'Temperature: "hot" is not a number (give one from 0 to 2)',
    ]);
    // An input named like an Object method is an input like any other.
    expect(problemsOf({ Prompt: 'p', constructor: 'x', __proto__: 'y' } as Record<string, unknown>)[0]).toMatch(/^constructor: test:v1 has no such input/);
  });

  test('a module without declarations keeps untyped text inputs', () => {
    expect(checkInputs(undefined, { Message: 'moo', Count: 3 }, 't')).toEqual({ Message: 'moo', Count: '3' });
    expect(() => checkInputs(undefined, { Message: ['moo'] }, 't')).toThrow('Message: a list is not text');
  });
});

describe('parsing declarations', () => {
  const malformed = (raw: unknown) => {
    try {
      parseInputDeclarations(raw, 'broken:v1');
    } catch (error) {
      expect((error as { code?: string }).code).toBe('module-inputs-invalid');
      return (error as Error).message;
    }
    throw new Error('parsed');
  };

  test('no inputs key means untyped; a list of declarations parses', () => {
    expect(parseInputDeclarations(undefined, 'm')).toBeUndefined();
    expect(parseInputDeclarations([], 'm')).toEqual([]);
  });

  test('each malformed declaration is named with what is wrong, one line each', () => {
    expect(malformed({ Prompt: 'string' })).toBe('module broken:v1 has malformed inputs in its module.json (its author must fix them):\n  inputs must be a list: [{ "name": "Prompt", "type": "string", "description": "..." }, ...]');
    const message = malformed([
      { name: 'A', type: 'text', description: 'a' },
      { name: '1B', type: 'string', description: 'b' },
      { name: 'C', type: 'integer', description: 'c', min: 5, max: 1 },
      { name: 'D', type: 'string', description: 'd', maximum: 3 },
      { name: 'E', type: 'enum', description: 'e' },
      { name: 'F', type: 'integer', description: 'f', default: 300, max: 256 },
      { name: 'G', type: 'string', description: 'g', min: 1 },
      { name: 'H', type: 'number', description: 'h', default: 1, required: true },
      { name: 'A', type: 'string', description: 'again' },
      { name: 'I', type: 'string' },
      'J',
      { name: 'K', type: 'integer', description: 'k', min: 0.5 },
      { name: 'L', type: 'enum', description: 'l', values: ['x', 'x'] },
    ]);
    expect(message.split('\n').slice(1)).toEqual([
      '  inputs[0] (A): type must be one of string, integer, number, boolean, enum, cid',
      '  inputs[1] (1B): name must be letters, digits and _, not starting with a digit (the template reads it as {{ .Name }})',
      '  inputs[2] (C): min 5 is more than max 1',
      '  inputs[3] (D): unknown key "maximum"; an input has name, type, description, default, required, min, max, maxLength, values',
      '  inputs[4] (E): an enum input needs values, the list of its choices',
      '  inputs[5] (F): default 300: 300 is more than the most, 256',
      '  inputs[6] (G): min is for integer and number inputs, not string',
      '  inputs[7] (H): required and default do not go together: a default makes the input optional',
      '  inputs[8] (A): A is declared twice',
      '  inputs[9] (I): description must be a string (say what the input is for)',
      '  inputs[10]: must be an object with name, type and description',
      '  inputs[11] (K): min 0.5 of an integer input must be a whole number from -9007199254740991 to 9007199254740991',
      '  inputs[12] (L): values names a choice twice',
    ]);
  });
});

describe('declarations as JSON Schema', () => {
  test('types, bounds, choices, typed defaults, descriptions and the required list', () => {
    expect(typedDefault(declarations[1]!)).toBe(64);
    expect(typedDefault(declarations[3]!)).toBe(false);
    expect(inputsJsonSchema(declarations)).toEqual({
      type: 'object',
      properties: {
        Prompt: { type: 'string', maxLength: 10, description: 'The text to continue' },
        MaxTokens: { type: 'integer', minimum: 1, maximum: 256, default: 64, description: 'How many tokens' },
        Temperature: { type: 'number', minimum: 0, maximum: 2, default: 0.5, description: 'Randomness' },
        Shout: { type: 'boolean', default: false, description: 'Upper case' },
        Animal: { type: 'string', enum: ['cow', 'dragon', 'tux'], default: 'cow', description: 'Who speaks' },
        DataCID: { type: 'string', minLength: 1, 'x-lilypad-type': 'cid', description: 'The data (a CID such as bafy..., or a path inside one)' },
      },
      required: ['Prompt'],
      additionalProperties: false,
    });
  });
});
