/**
 * What the studio offers: the built-in modules (`modules/*\/module.json` and their templates), the inputs
 * each declares (`module/inputs.ts`; for a module that declares none, the names its template reads, each a
 * required string), and the price of a job in credits. Only built-in modules run from the studio for now: a
 * git module would be fetched and run on the studio's account for anyone who names one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '../lib/errors.js';
import { templateInputNames, type InputDeclaration } from '../module/inputs.js';
import { readModuleManifest } from '../module/manifest.js';
import { renderJob, TEMPLATE_FILE } from '../module/render.js';
import { defaultBuiltinDir } from '../module/resolve.js';
import { parseChatDeclaration, type ChatDeclaration } from './chat.js';

export interface CatalogModule {
  name: string;
  description: string;
  tags: string[];
  /** The full name jobs use: `name:latest-tag`. */
  ref: string;
  inputs: InputDeclaration[];
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
    const manifest = await readModuleManifest(dir, entry.name);
    const template = await readFile(path.join(dir, TEMPLATE_FILE), 'utf8').catch(() => undefined);
    // A folder without both is not a runnable module (the llm model's format notes, say).
    if (!manifest?.name || !manifest.tags?.length || template === undefined) continue;
    modules.push({
      name: manifest.name,
      description: manifest.description ?? '',
      tags: manifest.tags,
      ref: `${manifest.name}:${manifest.tags[manifest.tags.length - 1]}`,
      inputs: manifest.inputs ?? templateInputNames(template).map((name) => ({ name, type: 'string', description: `${name} (the module declares no inputs)`, required: true })),
      template,
      credits: creditsPerJob(manifest.name),
      ...(manifest.chat !== undefined ? { chat: parseChatDeclaration(manifest.name, manifest.chat, manifest.inputs ?? []) } : {}),
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

/**
 * Checks a job's inputs against the module's declarations (one line per bad input; JSON numbers and booleans
 * taken for typed inputs) and renders it, as the job creator will before it signs: an input too large, or a
 * template that breaks, is refused now rather than after the credits were reserved. Returns the canonical inputs.
 */
export function checkInputs(module: CatalogModule, inputs: unknown): Record<string, string> {
  if (inputs === undefined || inputs === null) inputs = {};
  if (typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw new UserInputError('inputs must be an object, for example {"Message": "moo"}', { code: 'input-malformed' });
  }
  return renderJob({ name: module.ref, template: module.template, manifest: { inputs: module.inputs } }, inputs as Record<string, unknown>).inputs;
}
