/**
 * Rendering a module: every input is JSON-encoded before it reaches the template (so an input can
 * never break out of its JSON string), the output is parsed as JSON (a trailing comma, which several
 * original templates have, is accepted with a warning) and validated into a ModuleSpec.
 */
import { ModuleError } from '../lib/errors.js';
import { checkInputs } from './inputs.js';
import { jobInputsOf } from './job-inputs.js';
import type { ModuleManifest } from './manifest.js';
import { canonicalKeys, moduleSpecSchema, type ModuleSpec } from './spec.js';
import { renderTemplate, TemplateError } from './template/template.js';

export const TEMPLATE_FILE = 'lilypad_module.json.tmpl';

/** The largest input value accepted, in bytes; larger data belongs in an input CID. */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** The largest rendered spec accepted. */
const MAX_OUTPUT_CHARS = 16 * 1024 * 1024;

export interface RenderedModule {
  spec: ModuleSpec;
  /** The template's output, as JSON text. */
  json: string;
  /** Things the module author should fix that do not stop the module from running. */
  warnings: string[];
}

/** Removes commas that stand right before `}` or `]`, outside strings. Returns undefined when there are none. */
function withoutTrailingCommas(text: string): string | undefined {
  let out = '';
  let changed = false;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    if (c === ',') {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text[j] === '}' || text[j] === ']') {
        changed = true;
        continue;
      }
    }
    out += c;
  }
  return changed ? out : undefined;
}

function jsonErrorPlace(text: string, error: Error): string {
  const m = /position (\d+)/.exec(error.message);
  if (!m) return error.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  const lineText = text.split('\n')[line - 1] ?? '';
  const excerpt = lineText.length > 80 ? lineText.slice(Math.max(0, col - 40), col + 40) : lineText;
  return `line ${line}, column ${col}: ${error.message.replace(/ in JSON at position \d+.*$/, '')}\n  ${excerpt.trim()}`;
}

/**
 * Runs the template within its bounds (depth, steps, output). A template that passes one is the module's
 * fault and the same for everyone who renders it, so the message names the module and says so.
 */
function renderBounded(moduleName: string, template: string, encoded: Record<string, string>) {
  try {
    return renderTemplate(TEMPLATE_FILE, template, encoded, { maxOutput: MAX_OUTPUT_CHARS });
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    throw new TemplateError(`module ${moduleName} failed to render (its author must fix the template): ${error.message}`, {
      code: error.code,
      cause: error,
    });
  }
}

export function renderModuleDetailed(moduleName: string, template: string, inputs: Record<string, string>): RenderedModule {
  const encoded: Record<string, string> = {};
  for (const [key, value] of Object.entries(inputs)) {
    const size = Buffer.byteLength(value, 'utf8');
    if (size > MAX_INPUT_BYTES) {
      throw new ModuleError(
        `input ${key} is ${(size / 1024 / 1024).toFixed(1)} MB; inputs may be at most ${MAX_INPUT_BYTES / 1024 / 1024} MB (pass large data by CID instead)`,
        { code: 'input-too-large', details: { key, size } },
      );
    }
    encoded[key] = JSON.stringify(value);
  }
  const { output, missing } = renderBounded(moduleName, template, encoded);
  if (missing.length > 0) {
    const flags = missing.map((name) => `-i ${name}=VALUE`).join(' ');
    throw new ModuleError(
      `module ${moduleName} needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: pass ${flags}`,
      { code: 'input-missing', details: { missing } },
    );
  }
  const warnings: string[] = [];
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (error) {
    const fixed = withoutTrailingCommas(output);
    let ok = false;
    if (fixed !== undefined) {
      try {
        json = JSON.parse(fixed);
        ok = true;
        warnings.push(`module ${moduleName}: the rendered ${TEMPLATE_FILE} has a trailing comma; JSON does not allow one (accepted anyway)`);
      } catch {
        // report the original error
      }
    }
    if (!ok) {
      throw new ModuleError(`module ${moduleName} rendered invalid JSON at ${jsonErrorPlace(output, error as Error)}`, {
        code: 'template-invalid-json',
        cause: error,
      });
    }
  }
  const parsed = moduleSpecSchema.safeParse(canonicalKeys(json));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(root)';
    const message = issue?.path.at(-1) === 'Engine' && issue.code === 'invalid_value'
      ? `a job spec without Engine (expected job.Spec.Engine "Wasm" or "Docker")`
      : `an invalid job spec at ${where}: ${issue?.message}`;
    throw new ModuleError(`module ${moduleName} rendered ${message}`, { code: 'template-invalid-spec', details: { issues: parsed.error.issues } });
  }
  // Bad inputs (a malformed CID, a Path that leaves /inputs) are the template's or the user's mistake: found
  // here, before a job creator signs or a provider agrees.
  jobInputsOf(parsed.data, moduleName, inputs);
  return { spec: parsed.data, json: output, warnings };
}

export function renderModule(moduleName: string, template: string, inputs: Record<string, string>): ModuleSpec {
  return renderModuleDetailed(moduleName, template, inputs).spec;
}

/**
 * What a job creator does with a module it resolved by name before it signs anything: the inputs checked
 * against the module's declared inputs (`inputs.ts`), then the module rendered with the canonical inputs,
 * which are what the job offer carries. The one place `lilypad run`, pipelines, `lilypad module` and the
 * studio check a job's inputs. Providers and mediators render the offer's inputs as they are
 * (`prepare-job.ts`): a program's own checks still end a job that some other client let through.
 */
export function renderJob(
  module: { name: string; template: string; manifest?: Pick<ModuleManifest, 'inputs'> },
  given: Record<string, unknown>,
): RenderedModule & { inputs: Record<string, string> } {
  const inputs = checkInputs(module.manifest?.inputs, given, module.name);
  return { ...renderModuleDetailed(module.name, module.template, inputs), inputs };
}
