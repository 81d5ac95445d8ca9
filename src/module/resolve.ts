/**
 * Module names to module folders. `NAME:TAG` answers from the built-in modules in `modules/` first, then
 * from the module org's repository (`git.ts`); `host/owner/repo:TAG` is `https://host/owner/repo` at a tag,
 * branch or commit; `file:///path/repo:TAG` a git repository on disk; `./folder` (or an absolute path) is a
 * local module. A module's ref names its content exactly: for git modules the commit hash, for built-in
 * and local modules the CID of the folder, so a provider that resolves the same ref is sure to run the
 * same files.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModuleError } from '../lib/errors.js';
import { packageRoot } from '../lib/package-root.js';
import type { ModuleRef } from '../protocol/ids.js';
import { cidOfBytes, cidOfDirectory } from '../storage/index.js';
import { checkoutCommit, defaultGitFetchLimits, defaultModuleCacheDir, defaultModuleOrg, fetchRepository, repositoryForName, resolveRevision, type GitFetchLimits } from './git.js';
import { ANY_MODULE_SOURCE, checkModuleSource, gitRulesFor, type ModuleSources } from './sources.js';
import { readModuleManifest, type ModuleManifest } from './manifest.js';
import { TEMPLATE_FILE } from './render.js';

export interface ResolvedModule {
  /** The name the user gave, for messages. */
  name: string;
  ref: ModuleRef;
  /** A local folder holding the module's files at that ref. */
  dir: string;
  template: string;
  /**
   * Its `module.json` (description, declared inputs), read when a job creator resolves it by name; a provider
   * or mediator resolving an offer's ref runs what the offer names and leaves it unread.
   */
  manifest?: ModuleManifest;
}

export interface ModuleResolver {
  resolve(name: string): Promise<ResolvedModule>;
  /** What a provider or mediator does with the ref in a job offer: find it and check its content. */
  resolveRef(ref: ModuleRef, name: string): Promise<ResolvedModule>;
}

export interface ModuleResolverOptions {
  /** Folder of built-in modules; defaults to the repository's `modules/`. */
  builtinDir?: string;
  /** Where git modules are cloned and checked out; default `$LILYPAD_MODULE_CACHE` or `<tmp>/lilypad/modules`. */
  cacheDir?: string;
  /**
   * The repository a `NAME:TAG` that is not built in comes from, with `{name}` for the name; default
   * `$LILYPAD_MODULE_ORG` or `https://github.com/lilypad-tech/lilypad-module-{name}`.
   */
  moduleOrg?: string;
  /** Settings whose `LILYPAD_MODULE_CACHE` and `LILYPAD_MODULE_ORG` give the defaults above; none when left out. */
  env?: NodeJS.ProcessEnv;
  /**
   * Where modules may come from (see `sources.ts`); any source by default, as a job creator's own CLI needs.
   * Providers and mediators pass their `LILYPAD_MODULE_SOURCES` (default `DEFAULT_SERVICE_MODULE_SOURCES`).
   */
  sources?: ModuleSources;
  /** Time and size bounds on git clones and fetches; `defaultGitFetchLimits` for what is left out. */
  fetchLimits?: Partial<GitFetchLimits>;
}

const BUILTIN_REPOSITORY_PREFIX = 'builtin/';
const LOCAL_REPOSITORY_PREFIX = 'file:';

export const defaultBuiltinDir = (): string => path.join(packageRoot(), 'modules');

async function listBuiltins(builtinDir: string): Promise<string[]> {
  const entries = await readdir(builtinDir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** The CID of a module folder under the project's chunking profile: its content address. */
async function folderCid(dir: string): Promise<string> {
  return (await cidOfDirectory(dir)).toString();
}

async function readTemplate(name: string, dir: string): Promise<string> {
  try {
    return await readFile(path.join(dir, TEMPLATE_FILE), 'utf8');
  } catch {
    throw new ModuleError(`module ${name} has no ${TEMPLATE_FILE} in ${dir}`, { code: 'module-no-template' });
  }
}

export function createModuleResolver(options: ModuleResolverOptions = {}): ModuleResolver {
  const builtinDir = options.builtinDir ?? defaultBuiltinDir();
  const env = options.env ?? {};
  const cacheDir = options.cacheDir ?? defaultModuleCacheDir(env);
  const moduleOrg = options.moduleOrg ?? defaultModuleOrg(env);
  const sources = options.sources ?? ANY_MODULE_SOURCE;
  const fetchLimits: GitFetchLimits = { ...defaultGitFetchLimits, ...options.fetchLimits, ...gitRulesFor(sources) };

  /** The one place that decides whether a repository may be fetched: every git fetch and local folder passes here. */
  async function fetchAllowed(name: string, repository: string, commit?: string): Promise<string> {
    await checkModuleSource(sources, repository, name);
    return fetchRepository(cacheDir, repository, name, commit, fetchLimits);
  }

  async function resolveGit(name: string, repository: string, revision: string, subPath = ''): Promise<ResolvedModule> {
    const mirror = await fetchAllowed(name, repository);
    const commit = await resolveRevision(mirror, revision, name);
    const module = await openGitCommit(name, { repository, commit, path: subPath }, mirror);
    return { ...module, manifest: await readModuleManifest(module.dir, name) };
  }

  async function openGitCommit(name: string, ref: ModuleRef, mirror: string): Promise<ResolvedModule> {
    const root = await checkoutCommit(cacheDir, mirror, ref.repository, ref.commit, name);
    const dir = path.join(root, ref.path);
    return { name, ref, dir, template: await readTemplate(name, dir) };
  }

  async function resolveBuiltin(name: string, moduleName: string, tag: string): Promise<ResolvedModule> {
    const dir = path.join(builtinDir, moduleName);
    const manifest = await readModuleManifest(dir, name);
    if (!manifest?.tags) {
      const repository = repositoryForName(moduleOrg, moduleName);
      try {
        return await resolveGit(name, repository, tag);
      } catch (error) {
        if (!(error instanceof ModuleError) || error.code !== 'module-fetch-failed') throw error;
        const builtins = await listBuiltins(builtinDir);
        throw new ModuleError(
          `module ${name} not found: there is no built-in module ${moduleName} (built-in modules: ${builtins.join(', ') || 'none'}), ` +
            `and ${error.message.replace(`module ${name}: `, '')}`,
          { code: 'module-not-found', retryable: error.retryable, cause: error },
        );
      }
    }
    if (!manifest.tags.includes(tag)) {
      throw new ModuleError(`module ${moduleName}:${tag} has no tag ${tag}; tags are ${manifest.tags.join(', ')}`, {
        code: 'module-tag-not-found',
      });
    }
    const ref = { repository: BUILTIN_REPOSITORY_PREFIX + moduleName, commit: await folderCid(dir), path: '' };
    return { name, ref, dir, template: await readTemplate(name, dir), manifest };
  }

  async function resolveLocal(name: string): Promise<ResolvedModule> {
    const dir = path.resolve(name);
    await checkModuleSource(sources, LOCAL_REPOSITORY_PREFIX + dir, name);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) throw new ModuleError(`module ${name} not found: ${dir} is not a folder`, { code: 'module-not-found' });
    const template = await readTemplate(name, dir);
    const manifest = await readModuleManifest(dir, name);
    return { name, ref: { repository: LOCAL_REPOSITORY_PREFIX + dir, commit: await folderCid(dir), path: '' }, dir, template, manifest };
  }

  return {
    async resolve(name) {
      if (name.startsWith('./') || name.startsWith('../') || name.startsWith('/')) return resolveLocal(name);
      const match = /^([a-z0-9][a-z0-9._-]*):([A-Za-z0-9._-]+)$/.exec(name);
      if (match) return resolveBuiltin(name, match[1]!, match[2]!);
      const fileUrl = /^(file:\/\/\/?[^:]+):([^\s:]+)$/.exec(name);
      if (fileUrl) return resolveGit(name, fileUrl[1]!, fileUrl[2]!);
      const hosted = /^((?:https?:\/\/)?[^/\s:]+\/[^/\s:]+\/[^:\s]+?)(?:\.git)?:([^\s:]+)$/.exec(name);
      if (hosted) {
        const url = hosted[1]!.startsWith('http') ? hosted[1]! : `https://${hosted[1]}`;
        return resolveGit(name, url, hosted[2]!);
      }
      throw new ModuleError(`"${name}" is not a module name: use NAME:TAG (for example cowsay:v0.0.1), host/owner/repo:TAG or ./folder`, {
        code: 'module-name-invalid',
      });
    },

    async resolveRef(ref, name) {
      const isLocal = ref.repository.startsWith(LOCAL_REPOSITORY_PREFIX) && !ref.repository.startsWith('file://');
      if (!ref.repository.startsWith(BUILTIN_REPOSITORY_PREFIX) && !isLocal) {
        const mirror = await fetchAllowed(name, ref.repository, ref.commit);
        return openGitCommit(name, ref, mirror);
      }
      let dir: string;
      if (ref.repository.startsWith(BUILTIN_REPOSITORY_PREFIX)) {
        const moduleName = ref.repository.slice(BUILTIN_REPOSITORY_PREFIX.length);
        // A built-in name, never a path: `builtin/../..` would read any folder of this machine.
        if (!/^[a-z0-9][a-z0-9._-]*$/.test(moduleName) || moduleName.includes('..')) {
          throw new ModuleError(`module ${name}: there is no built-in module ${moduleName}`, { code: 'module-not-found' });
        }
        dir = path.join(builtinDir, moduleName);
      } else if (isLocal) {
        await checkModuleSource(sources, ref.repository, name);
        dir = ref.repository.slice(LOCAL_REPOSITORY_PREFIX.length);
      }
      else throw new ModuleError(`module ${name}: unknown repository ${ref.repository}`, { code: 'module-not-found' });
      const commit = await folderCid(dir).catch(() => undefined);
      if (commit !== ref.commit) {
        throw new ModuleError(`module ${name}: the module here (${commit ?? 'missing'}) is not the one asked for (${ref.commit})`, {
          code: 'module-content-mismatch',
        });
      }
      return { name, ref, dir, template: await readTemplate(name, dir) };
    },
  };
}

/** Finds the module file whose CID is `cid` among the module's files (the template names it by CID). */
export async function loadModuleFileByCid(module: ResolvedModule, cid: string): Promise<Uint8Array> {
  const entries = await readdir(module.dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.wasm')) continue;
    const bytes = await readFile(path.join(entry.parentPath, entry.name));
    if ((await cidOfBytes(bytes)).toString() === cid) return bytes;
  }
  throw new ModuleError(`module ${module.name}: no file with CID ${cid} in the module (EntryModule must name a .wasm file of the module by CID)`, {
    code: 'module-entry-not-found',
  });
}
