/**
 * Go's text/template in TypeScript: `lexer.ts` → `parser.ts` → `exec.ts`, with the built-in functions
 * in `functions.ts` and Go's fmt in `format.ts`. Modules are rendered with Lilypad's `subst` added.
 *
 * `renderTemplate` keeps Go's default for a missing key (`<no value>`) and also reports which
 * top-level fields were printed without a value, so a caller can say which input a template needs.
 */
import { execute, type ExecOptions } from './exec.js';
import { builtins, subst, type TemplateFunction } from './functions.js';
import { parse, type ParsedTemplate } from './parser.js';

export { TemplateError } from './errors.js';
export type { MissingKey, ExecOptions } from './exec.js';
export type { TemplateFunction } from './functions.js';

export interface RenderResult {
  output: string;
  /** Top-level fields printed with no value, in order of first use. */
  missing: string[];
}

export const lilypadFunctions: Record<string, TemplateFunction> = { ...builtins, subst };

export interface TemplateOptions extends ExecOptions {
  /** The functions a template may call; Go's built-ins plus `subst` when left out. */
  funcs?: Record<string, TemplateFunction>;
}

export class Template {
  readonly parsed: ParsedTemplate;
  private readonly funcs: Record<string, TemplateFunction>;

  constructor(name: string, source: string, private readonly options: TemplateOptions = {}) {
    this.funcs = options.funcs ?? lilypadFunctions;
    this.parsed = parse(name, source, (fn) => Object.hasOwn(this.funcs, fn));
  }

  execute(data: unknown): RenderResult {
    return execute(this.parsed, data, this.funcs, this.options);
  }
}

export function parseTemplate(name: string, source: string, options: TemplateOptions = {}): Template {
  return new Template(name, source, options);
}

/** Parses and executes in one step. */
export function renderTemplate(name: string, source: string, data: unknown, options: TemplateOptions = {}): RenderResult {
  return new Template(name, source, options).execute(data);
}
