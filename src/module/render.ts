/**
 * Rendering a module: every input is JSON-encoded before it reaches the template (so an input can
 * never break out of its JSON string), the output is parsed as JSON and validated into a ModuleSpec.
 */
import { ModuleError } from '../lib/errors.js';
import { moduleSpecSchema, type ModuleSpec } from './spec.js';
import { renderTemplate } from './template/template.js';

export const TEMPLATE_FILE = 'lilypad_module.json.tmpl';

export function renderModule(moduleName: string, template: string, inputs: Record<string, string>): ModuleSpec {
  const encoded: Record<string, string> = {};
  for (const [key, value] of Object.entries(inputs)) encoded[key] = JSON.stringify(value);
  const { output, missing } = renderTemplate(TEMPLATE_FILE, template, encoded);
  if (missing.length > 0) {
    const flags = missing.map((name) => `-i ${name}=VALUE`).join(' ');
    throw new ModuleError(
      `module ${moduleName} needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: pass ${flags}`,
      { code: 'input-missing', details: { missing } },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (error) {
    throw new ModuleError(`module ${moduleName} rendered invalid JSON: ${(error as Error).message}`, {
      code: 'template-invalid-json',
      cause: error,
    });
  }
  const parsed = moduleSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModuleError(
      `module ${moduleName} rendered an invalid job spec at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      { code: 'template-invalid-spec' },
    );
  }
  return parsed.data;
}
