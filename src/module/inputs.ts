/**
 * Typed module inputs: what a module's `module.json` declares under `inputs` (a name, a type, a description,
 * and a default, bounds or choices), parsed here with clear errors for a malformed declaration, and the one
 * check of a job's inputs against them, which gives the canonical strings the template receives. The CLI,
 * pipelines, `lilypad module`, the studio's API and form, and the studio's OpenAPI document all read the same
 * declarations, so a bad input is refused before anything is posted or paid for. A module that declares
 * nothing keeps untyped string inputs.
 */
import { CID } from 'multiformats/cid';
import { z } from 'zod';
import { ModuleError, UserInputError } from '../lib/errors.js';
import { shownValue } from '../lib/service-config.js';

export const INPUT_TYPES = ['string', 'integer', 'number', 'boolean', 'enum', 'cid'] as const;
export type InputType = (typeof INPUT_TYPES)[number];

export interface InputDeclaration {
  /** The template's name: `{{ .MaxTokens }}`. */
  name: string;
  type: InputType;
  description: string;
  /** What the job gets when the input is left out: the same as the template's own fallback. */
  default?: string | number | boolean;
  /** Must be given (a default makes an input optional, so the two do not go together). */
  required?: boolean;
  /** Bounds of an integer or number, both inclusive. */
  min?: number;
  max?: number;
  /** The most characters of a string. */
  maxLength?: number;
  /** The choices of an enum. */
  values?: string[];
}

/** Go's field names, as `{{ .Name }}` reads them (the same rule as `-i NAME=VALUE`, protocol/inputs.ts). */
const INPUT_NAME = /^[\p{L}_][\p{L}\p{Nd}_]*$/u;

const DECLARATION_KEYS = ['name', 'type', 'description', 'default', 'required', 'min', 'max', 'maxLength', 'values'];

const declarationSchema = z.strictObject(
  {
    name: z.string({ error: 'name must be a string' }).regex(INPUT_NAME, 'name must be letters, digits and _, not starting with a digit (the template reads it as {{ .Name }})'),
    type: z.enum(INPUT_TYPES, { error: `type must be one of ${INPUT_TYPES.join(', ')}` }),
    description: z.string({ error: 'description must be a string (say what the input is for)' }),
    default: z.union([z.string(), z.number(), z.boolean()], { error: 'default must be a string, a number or true/false' }).optional(),
    required: z.boolean({ error: 'required must be true or false' }).optional(),
    min: z.number({ error: 'min must be a number' }).optional(),
    max: z.number({ error: 'max must be a number' }).optional(),
    maxLength: z.int({ error: 'maxLength must be a whole number' }).positive('maxLength must be at least 1').optional(),
    values: z.array(z.string(), { error: 'values must be a list of strings' }).min(1, 'values must name at least one choice').optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}; an input has ${DECLARATION_KEYS.join(', ')}` : undefined) },
);

/** The problems of one declaration that its schema cannot see: keys that do not fit its type, a default out of bounds. */
function declarationProblems(declaration: InputDeclaration): string[] {
  const problems: string[] = [];
  const { type } = declaration;
  const numeric = type === 'integer' || type === 'number';
  for (const key of ['min', 'max'] as const) {
    const bound = declaration[key];
    if (bound === undefined) continue;
    if (!numeric) problems.push(`${key} is for integer and number inputs, not ${type}`);
    else if (type === 'integer' && !Number.isSafeInteger(bound)) problems.push(`${key} ${bound} of an integer input must be a whole number from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`);
  }
  if (numeric && declaration.min !== undefined && declaration.max !== undefined && declaration.min > declaration.max) {
    problems.push(`min ${declaration.min} is more than max ${declaration.max}`);
  }
  if (declaration.maxLength !== undefined && type !== 'string') problems.push(`maxLength is for string inputs, not ${type}`);
  if (type === 'enum') {
    if (declaration.values === undefined) problems.push('an enum input needs values, the list of its choices');
    else if (new Set(declaration.values).size !== declaration.values.length) problems.push('values names a choice twice');
  } else if (declaration.values !== undefined) {
    problems.push(`values is for enum inputs, not ${type}`);
  }
  if (declaration.default !== undefined) {
    if (declaration.required) problems.push('required and default do not go together: a default makes the input optional');
    else if (problems.length === 0) {
      const checked = canonicalValue(declaration, declaration.default);
      if ('problem' in checked) problems.push(`default ${JSON.stringify(declaration.default)}: ${checked.problem}`);
    }
  }
  return problems;
}

/**
 * Parses a module.json's `inputs` (undefined when it has none: the module is untyped). A malformed declaration
 * is the module author's to fix and the same for everyone, so the error names the module and each problem,
 * one line each.
 */
export function parseInputDeclarations(raw: unknown, moduleName: string): InputDeclaration[] | undefined {
  if (raw === undefined) return undefined;
  const fail = (lines: string[]) =>
    new ModuleError(`module ${moduleName} has malformed inputs in its module.json (its author must fix them):\n${lines.map((line) => `  ${line}`).join('\n')}`, {
      code: 'module-inputs-invalid',
      details: { problems: lines },
    });
  if (!Array.isArray(raw)) throw fail(['inputs must be a list: [{ "name": "Prompt", "type": "string", "description": "..." }, ...]']);
  const problems: string[] = [];
  const declarations: InputDeclaration[] = [];
  const seen = new Set<string>();
  raw.forEach((entry, index) => {
    const name = (entry as { name?: unknown } | null)?.name;
    const where = `inputs[${index}]${typeof name === 'string' ? ` (${name})` : ''}`;
    if (typeof name === 'string' && seen.has(name)) problems.push(`${where}: ${name} is declared twice`);
    if (typeof name === 'string') seen.add(name);
    const parsed = declarationSchema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${where}: ${issue.code === 'invalid_type' && issue.path.length === 0 ? 'must be an object with name, type and description' : issue.message}`);
      return;
    }
    const declaration = parsed.data as InputDeclaration;
    for (const problem of declarationProblems(declaration)) problems.push(`${where}: ${problem}`);
    declarations.push(declaration);
  });
  if (problems.length > 0) throw fail(problems);
  return declarations;
}

type Checked = { value: string } | { problem: string };

/** How a value is named in a message: numbers as they are, text quoted and cut short. */
function shown(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(shownValue(raw));
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'a list';
  if (typeof raw === 'object') return 'an object';
  return String(raw);
}

function range(declaration: InputDeclaration): string {
  const { min, max } = declaration;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return '';
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** One value checked against its declaration, as the template will receive it; or what is wrong with it. */
function canonicalValue(declaration: InputDeclaration, raw: unknown): Checked {
  const { type } = declaration;
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (type) {
    case 'string': {
      if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return { problem: `${shown(raw)} is not text` };
      const value = String(raw);
      const length = [...value].length;
      if (declaration.maxLength !== undefined && length > declaration.maxLength) {
        return { problem: `${length} characters is more than the most, ${declaration.maxLength}` };
      }
      return { value };
    }
    case 'integer': {
      let value: bigint;
      if (typeof text === 'number' && Number.isSafeInteger(text)) value = BigInt(text);
      else if (typeof text === 'string' && INTEGER_TEXT.test(text)) value = BigInt(text);
      else return { problem: `${shown(raw)} is not a whole number (give one${range(declaration)})` };
      if (declaration.min !== undefined && value < BigInt(declaration.min)) return { problem: `${value} is less than the least, ${declaration.min}` };
      if (declaration.max !== undefined && value > BigInt(declaration.max)) return { problem: `${value} is more than the most, ${declaration.max}` };
      return { value: value.toString() };
    }
    case 'number': {
      const value = typeof text === 'number' ? text : typeof text === 'string' && NUMBER_TEXT.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(value)) return { problem: `${shown(raw)} is not a number (give one${range(declaration)})` };
      if (declaration.min !== undefined && value < declaration.min) return { problem: `${value} is less than the least, ${declaration.min}` };
      if (declaration.max !== undefined && value > declaration.max) return { problem: `${value} is more than the most, ${declaration.max}` };
      // `0.50`, `5e-1` and 0.5 are one value, and one input: the template and the job's inputs hash see `0.5`.
      return { value: String(value === 0 ? 0 : value) };
    }
    case 'boolean': {
      if (text === true || text === 'true') return { value: 'true' };
      if (text === false || text === 'false') return { value: 'false' };
      return { problem: `${shown(raw)} is not true or false` };
    }
    case 'enum': {
      const value = typeof text === 'string' ? text : typeof text === 'number' || typeof text === 'boolean' ? String(text) : undefined;
      if (value === undefined || !declaration.values!.includes(value)) return { problem: `${shown(raw)} is not one of ${declaration.values!.join(', ')}` };
      return { value };
    }
    case 'cid': {
      const hint = 'give a CID such as bafy... (or a path inside one), or @PATH to send local data with lilypad run';
      if (typeof text !== 'string' || text === '') return { problem: `${shown(raw)} is not a CID (${hint})` };
      const root = text.replace(/^\/?ipfs\//, '').split('/')[0]!;
      try {
        CID.parse(root);
      } catch {
        return { problem: `${shown(raw)} is not a CID (${hint})` };
      }
      return { value: text };
    }
  }
}

/**
 * Checks a job's inputs against a module's declarations and returns them as the template receives them: one
 * canonical string per declared input that was given or has a default (JSON's 3 and true become "3" and
 * "true"; `0.50` becomes "0.5"), in the declarations' order. Throws a UserInputError with one line per bad
 * input, each saying what was wrong and what is allowed; an unknown name is refused with the names the module
 * has. An empty value of a typed input that is not text stands for no value (a blank form field). With no
 * declarations (an untyped module) every input is passed on as text, as before.
 */
export function checkInputs(declarations: readonly InputDeclaration[] | undefined, given: Record<string, unknown>, moduleName: string): Record<string, string> {
  const problems: string[] = [];
  const checked = new Map<string, string>();
  if (declarations === undefined) {
    for (const [name, raw] of Object.entries(given)) {
      if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') checked.set(name, String(raw));
      else problems.push(`${name}: ${shown(raw)} is not text`);
    }
  } else {
    const known = new Map(declarations.map((declaration) => [declaration.name, declaration]));
    for (const name of Object.keys(given)) {
      if (!known.has(name)) problems.push(`${name}: ${moduleName} has no such input; its inputs are ${declarations.map((d) => d.name).join(', ') || 'none'}`);
    }
    for (const declaration of declarations) {
      let raw = Object.hasOwn(given, declaration.name) ? given[declaration.name] : undefined;
      if (declaration.type !== 'string' && typeof raw === 'string' && raw.trim() === '') raw = undefined;
      if (raw === undefined || raw === null) {
        if (declaration.default !== undefined) raw = declaration.default;
        else {
          if (declaration.required) problems.push(`${declaration.name}: missing; it is required (${declaration.description})`);
          continue;
        }
      }
      const result = canonicalValue(declaration, raw);
      if ('problem' in result) problems.push(`${declaration.name}: ${result.problem}`);
      else checked.set(declaration.name, result.value);
    }
  }
  if (problems.length > 0) {
    throw new UserInputError(problems.join('\n'), { code: 'input-invalid', details: { module: moduleName, problems } });
  }
  return Object.fromEntries(checked);
}

/** The names a template reads from its data (`.Message` in `{{ .Message }}`, `{{ or .Seed "42" }}`): a guess at an undeclared module's inputs. */
export function templateInputNames(template: string): string[] {
  const names = new Set<string>();
  for (const action of template.matchAll(/\{\{-?([\s\S]*?)-?\}\}/g)) {
    for (const field of action[1]!.matchAll(/(?:^|[\s(|])\.([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(field[1]!);
  }
  return [...names];
}

/** A declaration's default as JSON has it (MaxTokens' 64 as a number), for documents and forms. */
export function typedDefault(declaration: InputDeclaration): string | number | boolean | undefined {
  if (declaration.default === undefined) return undefined;
  const checked = canonicalValue(declaration, declaration.default);
  if ('problem' in checked) return declaration.default;
  if (declaration.type === 'integer' || declaration.type === 'number') return Number(checked.value);
  if (declaration.type === 'boolean') return checked.value === 'true';
  return checked.value;
}

/** The JSON Schema of one input, as the studio's API takes it: its type, bounds, choices, default and description. */
export function inputJsonSchema(declaration: InputDeclaration): Record<string, unknown> {
  const schema: Record<string, unknown> = { description: declaration.description };
  switch (declaration.type) {
    case 'string':
      Object.assign(schema, { type: 'string' }, declaration.maxLength !== undefined ? { maxLength: declaration.maxLength } : {});
      break;
    case 'integer':
    case 'number':
      Object.assign(schema, { type: declaration.type }, declaration.min !== undefined ? { minimum: declaration.min } : {}, declaration.max !== undefined ? { maximum: declaration.max } : {});
      break;
    case 'boolean':
      schema.type = 'boolean';
      break;
    case 'enum':
      Object.assign(schema, { type: 'string', enum: declaration.values });
      break;
    case 'cid':
      Object.assign(schema, { type: 'string', minLength: 1, 'x-lilypad-type': 'cid' });
      schema.description = `${declaration.description} (a CID such as bafy..., or a path inside one)`;
      break;
  }
  const fallback = typedDefault(declaration);
  if (fallback !== undefined) schema.default = fallback;
  return schema;
}

/** The JSON Schema of a module's inputs object: one property per declared input, the required ones listed, no others. */
export function inputsJsonSchema(declarations: readonly InputDeclaration[]): Record<string, unknown> {
  const required = declarations.filter((declaration) => declaration.required).map((declaration) => declaration.name);
  return {
    type: 'object',
    properties: Object.fromEntries(declarations.map((declaration) => [declaration.name, inputJsonSchema(declaration)])),
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}
