/**
 * A module's `module.json`, beside its template: the name, description and tags of a built-in module, and
 * for any module its declared inputs (`inputs.ts`). Optional for git and local modules: a module without one
 * has untyped inputs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModuleError } from '../lib/errors.js';
import { parseInputDeclarations, type InputDeclaration } from './inputs.js';

export const MANIFEST_FILE = 'module.json';

export interface ModuleManifest {
  name?: string;
  description?: string;
  tags?: string[];
  /** Undefined when the module declares none: its inputs are untyped. */
  inputs?: InputDeclaration[];
  /** A chat-capable module's `chat` declaration, as written; the studio's OpenAI-compatible API reads it (src/studio/chat.ts). */
  chat?: unknown;
}

/**
 * Reads `module.json` in `dir`: undefined when there is none; a ModuleError naming the module when it is not
 * a JSON object or its inputs are malformed.
 */
export async function readModuleManifest(dir: string, moduleName: string): Promise<ModuleManifest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModuleError(`module ${moduleName}: its ${MANIFEST_FILE} is not valid JSON (${(error as Error).message.split('\n')[0]}); its author must fix it`, {
      code: 'module-manifest-invalid',
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModuleError(`module ${moduleName}: its ${MANIFEST_FILE} must be a JSON object ({"description": "...", "inputs": [...]})`, { code: 'module-manifest-invalid' });
  }
  const fields = json as Record<string, unknown>;
  const stringField = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : undefined);
  const tags = Array.isArray(fields.tags) && fields.tags.every((tag) => typeof tag === 'string') ? (fields.tags as string[]) : undefined;
  return { name: stringField('name'), description: stringField('description'), tags, inputs: parseInputDeclarations(fields.inputs, moduleName), chat: fields.chat };
}
