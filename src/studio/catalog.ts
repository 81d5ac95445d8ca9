/**
 * What the studio offers: the built-in modules (`modules/*\/module.json` and their templates), the inputs
 * each template reads (its `{{ .Name }}` references, until modules declare typed inputs), and the price of
 * a job in credits. Only built-in modules run from the studio for now: a git module would be fetched and
 * run on the studio's account for anyone who names one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../lib/errors.js';
import { renderModule, TEMPLATE_FILE } from '../module/render.js';
import { defaultBuiltinDir } from '../module/resolve.js';
import { parseChatDeclaration, type ChatDeclaration } from './chat.js';

export interface CatalogModule {
  name: string;
  description: string;
  tags: string[];
  /** The full name jobs use: `name:latest-tag`. */
  ref: string;
  inputs: string[];
  /** The module's template, to check a job's inputs render before anything is charged. */
  template: string;
  /** Credits one job costs. */
  credits: number;
  /** How the module chats, when its module.json says (the `chat` key): such modules are the OpenAI-compatible models. */
  chat?: ChatDeclaration;
}

/** Credits per job by module; a fixed table for now (a later step prices by the provider's offers). */
const CREDITS_PER_JOB: Record<string, number> = { cowsay: 1, spin: 2 };
const DEFAULT_CREDITS_PER_JOB = 5;

export function creditsPerJob(moduleName: string): number {
  return CREDITS_PER_JOB[moduleName] ?? DEFAULT_CREDITS_PER_JOB;
}

/** The names a Go template reads from its data: `.Message` in `{{ .Message }}`, `{{ or .Seed "42" }}`, ... */
export function templateInputs(template: string): string[] {
  const names = new Set<string>();
  for (const action of template.matchAll(/\{\{-?([\s\S]*?)-?\}\}/g)) {
    for (const field of action[1]!.matchAll(/(?:^|[\s(|])\.([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(field[1]!);
  }
  return [...names];
}

export interface Catalog {
  modules: CatalogModule[];
  /** By `name` or `name:tag`; a clear error for anything else. */
  find(name: string): CatalogModule;
}

export async function loadCatalog(builtinDir = defaultBuiltinDir()): Promise<Catalog> {
  const modules: CatalogModule[] = [];
  const entries = await readdir(builtinDir, { withFileTypes: true });
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(builtinDir, entry.name);
    const manifest = await readFile(path.join(dir, 'module.json'), 'utf8').then((text) => JSON.parse(text) as { name: string; description?: string; tags: string[]; chat?: unknown }, () => undefined);
    const template = await readFile(path.join(dir, TEMPLATE_FILE), 'utf8').catch(() => undefined);
    // A folder without both is not a runnable module (the llm model's format notes, say).
    if (!manifest || template === undefined || manifest.tags.length === 0) continue;
    modules.push({
      name: manifest.name,
      description: manifest.description ?? '',
      tags: manifest.tags,
      ref: `${manifest.name}:${manifest.tags[manifest.tags.length - 1]}`,
      inputs: templateInputs(template),
      template,
      credits: creditsPerJob(manifest.name),
      ...(manifest.chat !== undefined ? { chat: parseChatDeclaration(manifest.name, manifest.chat) } : {}),
    });
  }
  return {
    modules,
    find(name) {
      const [moduleName, tag] = name.split(':');
      const module = modules.find((m) => m.name === moduleName);
      if (!module || (tag !== undefined && !module.tags.includes(tag))) {
        throw new UserInputError(`unknown module ${JSON.stringify(name)}: the studio runs ${modules.map((m) => m.ref).join(', ')}`, { code: 'module-unknown' });
      }
      return tag === undefined ? module : { ...module, ref: `${module.name}:${tag}` };
    },
  };
}

/** Checks a job's inputs against the module: every input given, no others, all strings. */
export function checkInputs(module: CatalogModule, inputs: unknown): Record<string, string> {
  if (inputs === undefined || inputs === null) inputs = {};
  if (typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw new UserInputError('inputs must be an object of strings, for example {"Message": "moo"}', { code: 'input-malformed' });
  }
  const checked: Record<string, string> = {};
  for (const [key, value] of Object.entries(inputs as Record<string, unknown>)) {
    if (!module.inputs.includes(key)) {
      throw new UserInputError(`module ${module.ref} has no input ${key}; its inputs are ${module.inputs.join(', ') || 'none'}`, { code: 'input-unknown' });
    }
    if (typeof value !== 'string') throw new UserInputError(`input ${key} must be a string`, { code: 'input-malformed' });
    checked[key] = value;
  }
  const missing = module.inputs.filter((name) => checked[name] === undefined);
  // An input the template has a default for (`{{ if .Seed }}...{{ else }}"42"{{ end }}`) may be left out:
  // the template renders without it.
  if (missing.length > 0 && !rendersWith(module, checked)) {
    throw new UserInputError(`module ${module.ref} needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, { code: 'input-missing', details: { missing } });
  }
  // What the provider will render, rendered here first: an input too large, or a template that breaks, is
  // refused now rather than after the credits were reserved.
  renderModule(module.ref, module.template, checked);
  return checked;
}

/** Whether the template renders without the inputs left out; any other fault of the inputs is thrown. */
function rendersWith(module: CatalogModule, inputs: Record<string, string>): boolean {
  try {
    renderModule(module.ref, module.template, inputs);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'input-missing') return false;
    throw error;
  }
}
