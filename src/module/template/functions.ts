/**
 * The built-in functions of text/template (funcs.go) and Lilypad's `subst`. A function declares its
 * parameters the way Go's signature would (a value, any value, or a string) so the executor can check
 * the argument count and types with Go's messages.
 */
import { goTypeName, sprint, sprintf, sprintln, compareGoStrings } from './format.js';

export const NO_VALUE: unique symbol = Symbol('no value');
export type Value = unknown;

export type ParamKind = 'value' | 'any' | 'string';

export interface TemplateFunction {
  /** Fixed parameters, then (when variadic) the kind of the rest. */
  params: ParamKind[];
  variadic?: ParamKind;
  /** Returns the result, or throws a FuncError whose message Go would show after "error calling NAME: ". */
  call(args: Value[], boxed: boolean[]): Value;
}

export class FuncError extends Error {}

/** Go's truth: false, 0, a nil pointer or interface, and an empty array, slice, map or string. */
export function isTrue(v: Value): boolean {
  if (v === NO_VALUE || v === null || v === undefined) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'string':
      return v.length > 0;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
    case 'function':
      return true;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

type Kind = 'bool' | 'int' | 'float' | 'string' | 'invalid' | 'other';
function basicKind(v: Value): Kind {
  if (v === NO_VALUE || v === null || v === undefined) return 'invalid';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'string';
  }
  return 'other';
}

const valueForMessage = (v: Value) => sprintf('%s', [v === NO_VALUE ? null : v]);

function eq(arg1: Value, ...rest: Value[]): boolean {
  if (rest.length === 0) throw new FuncError('missing argument for comparison');
  const k1 = basicKind(arg1);
  for (const arg of rest) {
    const k2 = basicKind(arg);
    let truth = false;
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') {
        throw new FuncError(`incompatible types for comparison: ${goTypeName(arg1)} and ${goTypeName(arg)}`);
      }
    } else if (k1 === 'other') {
      throw new FuncError(`non-comparable type ${valueForMessage(arg)}: ${goTypeName(arg)}`);
    } else if (k1 === 'invalid') {
      truth = true;
    } else truth = arg1 === arg;
    if (truth) return true;
  }
  return false;
}

function lt(a: Value, b: Value): boolean {
  const k1 = basicKind(a);
  if (k1 === 'other' || k1 === 'invalid') throw new FuncError('invalid type for comparison');
  const k2 = basicKind(b);
  if (k2 === 'other' || k2 === 'invalid') throw new FuncError('invalid type for comparison');
  if (k1 !== k2) throw new FuncError(`incompatible types for comparison: ${goTypeName(a)} and ${goTypeName(b)}`);
  if (k1 === 'bool') throw new FuncError('invalid type for comparison');
  if (k1 === 'string') return compareGoStrings(a as string, b as string) < 0;
  return (a as number) < (b as number);
}

function indexArg(v: Value, cap: number, boxed = false): number {
  if (boxed) throw new FuncError('cannot index slice/array with type interface {}');
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(cap)) throw new FuncError(`index out of range: ${v}`);
    return Number(v);
  }
  if (v === NO_VALUE || v === null) throw new FuncError('cannot index slice/array with nil');
  throw new FuncError(`cannot index slice/array with type ${boxed ? 'interface {}' : goTypeName(v)}`);
}

function index(item: Value, indexes: Value[]): Value {
  let v = item;
  if (v === NO_VALUE || v === null) throw new FuncError('index of untyped nil');
  for (const ix of indexes) {
    if (v === null) throw new FuncError('index of nil pointer');
    if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'utf8');
      const x = indexArg(ix, bytes.length);
      if (x === bytes.length) throw new FuncError('reflect: string index out of range');
      v = BigInt(bytes[x]!);
    } else if (Array.isArray(v)) {
      const x = indexArg(ix, v.length);
      if (x === v.length) throw new FuncError('reflect: slice index out of range');
      v = v[x];
    } else if (v !== null && typeof v === 'object') {
      if (ix === NO_VALUE || ix === null) throw new FuncError('value is nil; should be of type string');
      if (typeof ix !== 'string') throw new FuncError(`value has type ${goTypeName(ix)}; should be string`);
      const map = v as Record<string, Value>;
      v = Object.hasOwn(map, ix) ? map[ix] : NO_VALUE;
      if (v === NO_VALUE) v = null;
    } else if (v === NO_VALUE) {
      throw new FuncError('index of untyped nil');
    } else {
      throw new FuncError(`can't index item of type ${goTypeName(v)}`);
    }
  }
  return v;
}

function slice(item: Value, indexes: Value[], boxed: boolean[] = []): Value {
  if (item === NO_VALUE || item === null) throw new FuncError('slice of untyped nil');
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new FuncError('cannot 3-index slice a string');
    length = Buffer.byteLength(item, 'utf8');
  } else if (Array.isArray(item)) length = item.length;
  else throw new FuncError(`can't slice item of type ${goTypeName(item)}`);
  const idx = [0, length];
  indexes.forEach((ix, i) => {
    const x = indexArg(ix, length, boxed[i]);
    idx[i] = x;
  });
  if (idx[0]! > idx[1]!) throw new FuncError(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) throw new FuncError(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (typeof item === 'string') return Buffer.from(item, 'utf8').subarray(idx[0], idx[1]).toString('utf8');
  return item.slice(idx[0], idx[1]);
}

function length(item: Value): bigint {
  if (item === null) throw new FuncError('len of nil pointer');
  if (typeof item === 'string') return BigInt(Buffer.byteLength(item, 'utf8'));
  if (Array.isArray(item)) return BigInt(item.length);
  if (item !== NO_VALUE && typeof item === 'object') return BigInt(Object.keys(item as object).length);
  if (item === NO_VALUE) throw new FuncError('reflect: call of reflect.Value.Type on zero Value');
  throw new FuncError(`len of type ${goTypeName(item)}`);
}

/** Go's evalArgs for html, js and urlquery: one string as is, anything else through fmt.Sprint. */
function argsString(args: Value[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (a === NO_VALUE || a === null ? '<no value>' : a)));
}

export function htmlEscape(s: string): string {
  return s.replace(/[<>&'"\0]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&#39;' : c === '"' ? '&#34;' : '\uFFFD',
  );
}

export function jsEscape(s: string): string {
  let out = '';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    switch (c) {
      case '\\': out += '\\\\'; continue;
      case "'": out += "\\'"; continue;
      case '"': out += '\\"'; continue;
      case '<': out += '\\u003C'; continue;
      case '>': out += '\\u003E'; continue;
      case '&': out += '\\u0026'; continue;
      case '=': out += '\\u003D'; continue;
    }
    if (cp < 0x20) out += '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
    else if (cp < 0x80 || /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]$/u.test(c)) out += c;
    else out += cp < 0x10000 ? '\\u' + cp.toString(16).toUpperCase().padStart(4, '0') : '\\U' + cp.toString(16).toUpperCase().padStart(8, '0');
  }
  return out;
}

export function urlQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

const v = (k: ParamKind) => k;

export const builtins: Record<string, TemplateFunction> = {
  and: { params: [v('value')], variadic: 'value', call: (args) => args.find((a) => !isTrue(a)) ?? args[args.length - 1] },
  or: { params: [v('value')], variadic: 'value', call: (args) => args.find((a) => isTrue(a)) ?? args[args.length - 1] },
  not: { params: ['value'], call: ([a]) => !isTrue(a) },
  call: {
    params: ['value'],
    variadic: 'value',
    call: ([name, fn]) => {
      if (fn === NO_VALUE || fn === null) throw new FuncError('call of nil');
      throw new FuncError(`non-function ${String(name)} of type ${goTypeName(fn)}`);
    },
  },
  eq: { params: ['value'], variadic: 'value', call: ([a, ...rest]) => eq(a, ...rest) },
  ne: { params: ['value', 'value'], call: ([a, b]) => !eq(a, b) },
  lt: { params: ['value', 'value'], call: ([a, b]) => lt(a, b) },
  le: { params: ['value', 'value'], call: ([a, b]) => lt(a, b) || eq(a, b) },
  gt: { params: ['value', 'value'], call: ([a, b]) => !(lt(a, b) || eq(a, b)) },
  ge: { params: ['value', 'value'], call: ([a, b]) => !lt(a, b) },
  len: { params: ['value'], call: ([a]) => length(a) },
  index: { params: ['value'], variadic: 'value', call: ([item, ...ix]) => index(item, ix) },
  slice: { params: ['value'], variadic: 'value', call: ([item, ...ix], boxed) => slice(item, ix, boxed.slice(1)) },
  print: { params: [], variadic: 'any', call: (args) => sprint(args) },
  printf: { params: ['string'], variadic: 'any', call: ([format, ...args]) => sprintf(format as string, args) },
  println: { params: [], variadic: 'any', call: (args) => sprintln(args) },
  html: { params: [], variadic: 'any', call: (args) => htmlEscape(argsString(args)) },
  js: { params: [], variadic: 'any', call: (args) => jsEscape(argsString(args)) },
  urlquery: { params: [], variadic: 'any', call: (args) => urlQueryEscape(argsString(args)) },
};

/**
 * Lilypad's `subst`: each argument is a JSON-encoded string (as every module input is), decoded before
 * it is formatted, so `{{subst "%s world" .Greeting}}` gives `hello world` for the input hello.
 */
export const subst: TemplateFunction = {
  params: ['string'],
  variadic: 'any',
  call: ([format, ...args]) => {
    const decoded = args.map((arg) => {
      if (typeof arg !== 'string') return arg;
      try {
        return JSON.parse(arg) as unknown;
      } catch {
        throw new FuncError(`argument ${JSON.stringify(arg)} is not JSON`);
      }
    });
    return sprintf(format as string, decoded.map((d) => (typeof d === 'number' && Number.isInteger(d) ? d : d)));
  },
};
