/**
 * Modules from git: one mirror clone per repository in the module cache, fetched every time a module is
 * resolved (so a tag pushed after the first clone is found), and one read-only checkout per commit.
 * Runs the `git` command; nothing here talks to a network except git itself, and only to the URL asked for.
 * Every clone and fetch is bounded in time and size, so a repository that never answers or never ends
 * cannot hold a caller (a provider's job slot) for ever.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModuleError } from '../lib/errors.js';

/** Bounds on one clone or fetch of a module repository. */
export interface GitFetchLimits {
  /** The whole clone or fetch; default 120 s. */
  timeoutMs: number;
  /** A transfer slower than 1 KB/s for this long (a server that accepts and never answers) fails; default 30 s. */
  stallSeconds: number;
  /** The most the repository may take on disk; default 512 MiB. */
  maxBytes: number;
  /** The transports git may use (GIT_ALLOW_PROTOCOL, e.g. `https`); all when left out. */
  protocols?: string[];
  /** Whether git may follow an HTTP redirect (to another host than the one allowed); default yes. */
  followRedirects?: boolean;
}

export const defaultGitFetchLimits: GitFetchLimits = { timeoutMs: 120_000, stallSeconds: 30, maxBytes: 512 * 1024 * 1024 };

export const defaultModuleCacheDir = (env: NodeJS.ProcessEnv): string =>
  env.LILYPAD_MODULE_CACHE || path.join(os.tmpdir(), 'lilypad', 'modules');

export const defaultModuleOrg = (env: NodeJS.ProcessEnv): string =>
  env.LILYPAD_MODULE_ORG || 'https://github.com/lilypad-tech/lilypad-module-{name}';

/** Where modules are cached and where `NAME:TAG` is looked up, from the settings in `env` (read once in cli/). */
export interface ModuleLocations {
  cacheDir: string;
  moduleOrg: string;
}

export const moduleLocationsOf = (env: NodeJS.ProcessEnv): ModuleLocations => ({ cacheDir: defaultModuleCacheDir(env), moduleOrg: defaultModuleOrg(env) });

/** The repository of `NAME:TAG` under an org pattern (`{name}` is replaced; otherwise `/NAME` is appended). */
export function repositoryForName(org: string, name: string): string {
  return org.includes('{name}') ? org.replaceAll('{name}', name) : `${org.replace(/\/$/, '')}/${name}`;
}

/** Strips credentials from a URL before it appears in a message. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

/** Why a git command failed, as git's error output says it; `limit` when one of ours stopped it. */
class GitFailure extends Error {
  constructor(readonly stderr: string, readonly limit?: string) {
    super(limit ?? stderr);
  }
}

async function git(args: string[], options: { cwd?: string; limits?: GitFetchLimits; watchDir?: string } = {}): Promise<string> {
  const limits = options.limits;
  const config = limits
    ? ['-c', `http.lowSpeedLimit=1000`, '-c', `http.lowSpeedTime=${limits.stallSeconds}`, '-c', `http.followRedirects=${limits.followRedirects === false ? 'false' : 'initial'}`]
    : [];
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'echo', LC_ALL: 'C' };
  if (limits?.protocols) env.GIT_ALLOW_PROTOCOL = limits.protocols.join(':');
  return new Promise((resolve, reject) => {
    let stoppedBy: string | undefined;
    // A bounded command gets its own process group, so that a stop also ends git's helpers (git-remote-http),
    // which would otherwise keep running and hold its output open.
    const child = spawn('git', [...config, ...args], { cwd: options.cwd, env, detached: limits !== undefined, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-16_384)));
    const stop = (why: string) => {
      stoppedBy ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = limits ? setTimeout(() => stop(`no answer within ${limits.timeoutMs / 1000} s`), limits.timeoutMs) : undefined;
    // git has no size cap for what it fetches, so the folder it writes into is watched instead.
    const sizeWatch =
      limits && options.watchDir
        ? setInterval(() => {
            void folderBytes(options.watchDir!).then((bytes) => {
              if (bytes > limits.maxBytes) stop(tooLarge(limits));
            });
          }, 500)
        : undefined;
    child.on('error', (error) => {
      clearTimeout(timer);
      clearInterval(sizeWatch);
      reject(new GitFailure(error.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sizeWatch);
      if (stoppedBy) reject(new GitFailure(stderr, stoppedBy));
      else if (code !== 0) reject(new GitFailure(stderr || `git exited with ${code}`));
      // A fetch quicker than the watch is measured once at the end.
      else if (limits && options.watchDir) {
        void folderBytes(options.watchDir).then((bytes) => (bytes > limits.maxBytes ? reject(new GitFailure('', tooLarge(limits))) : resolve(stdout)));
      } else resolve(stdout);
    });
  });
}

const tooLarge = (limits: GitFetchLimits) => `the repository is larger than the ${Math.round(limits.maxBytes / 1024 / 1024)} MiB allowed`;

async function folderBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(entries.filter((e) => e.isFile()).map((e) => stat(path.join(e.parentPath, e.name)).then((s) => s.size, () => 0)));
  return sizes.reduce((a, b) => a + b, 0);
}

/**
 * git's own reason for a failed clone or fetch, in a few words a user can act on, and whether trying again
 * could help: a missing repository, a refused transport or a size limit stay as they are.
 */
function fetchFailure(error: unknown, limits: GitFetchLimits): { reason: string; retryable: boolean } {
  const lasting = (reason: string) => ({ reason, retryable: false });
  if (error instanceof GitFailure && error.limit) return { reason: error.limit, retryable: error.limit !== tooLarge(limits) };
  const stderr = error instanceof GitFailure ? error.stderr : String((error as Error)?.message ?? error);
  const fatal = stderr.split('\n').map((line) => line.trim()).filter((line) => /^(fatal|error):/.test(line)).map((line) => line.replace(/^(fatal|error):\s*/, ''));
  const all = fatal.join(' ');
  if (/does not appear to be a git repository|repository '.*' (does not exist|not found)/i.test(all)) {
    return lasting('the repository does not exist or cannot be read there; check the URL');
  }
  if (/transport '.*' not allowed/i.test(all)) return lasting('that transport is not allowed here');
  if (/Operation too slow|timed out/i.test(all)) return { reason: 'the server stopped answering (under 1 KB/s for too long)', retryable: true };
  return { reason: fatal[0] ?? stderr.trim().split('\n').at(-1) ?? 'git failed', retryable: true };
}

const exists = (p: string) => stat(p).then(() => true, () => false);
const repoKey = (repository: string) => createHash('sha256').update(repository).digest('hex').slice(0, 24);

/**
 * Clones the repository into the cache on first use and fetches branches and tags every time after.
 * When `commit` is given and already present, a failed fetch (offline) is not an error.
 */
export async function fetchRepository(
  cacheDir: string,
  repository: string,
  name: string,
  commit?: string,
  limits: GitFetchLimits = defaultGitFetchLimits,
): Promise<string> {
  const base = path.join(cacheDir, repoKey(repository));
  const mirror = path.join(base, 'repo.git');
  const failed = (error: unknown): never => {
    const { reason, retryable } = fetchFailure(error, limits);
    throw new ModuleError(`module ${name}: cannot fetch ${safeUrl(repository)}: ${reason}`, { code: 'module-fetch-failed', retryable, cause: error });
  };
  if (!(await exists(path.join(mirror, 'HEAD')))) {
    await mkdir(base, { recursive: true });
    const temporary = `${mirror}.${process.pid}.${Date.now()}`;
    try {
      await git(['clone', '--quiet', '--mirror', '--', repository, temporary], { limits, watchDir: temporary });
      await rename(temporary, mirror).catch(async (error) => {
        // Another process cloned it first: use theirs.
        await rm(temporary, { recursive: true, force: true });
        if (!(await exists(path.join(mirror, 'HEAD')))) throw error;
      });
    } catch (error) {
      await rm(temporary, { recursive: true, force: true });
      failed(error);
    }
    return mirror;
  }
  try {
    await git(['fetch', '--quiet', '--prune', '--tags', '--force', 'origin', '+refs/heads/*:refs/heads/*'], { cwd: mirror, limits, watchDir: mirror });
  } catch (error) {
    // A mirror grown past the limit is dropped: it would only be fetched into again.
    if (error instanceof GitFailure && error.limit === tooLarge(limits)) await rm(mirror, { recursive: true, force: true });
    else if (commit !== undefined && (await hasCommit(mirror, commit))) return mirror;
    failed(error);
  }
  return mirror;
}

async function hasCommit(mirror: string, commit: string): Promise<boolean> {
  return git(['cat-file', '-e', `${commit}^{commit}`], { cwd: mirror }).then(() => true, () => false);
}

async function revParse(mirror: string, rev: string): Promise<string | undefined> {
  return git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd: mirror }).then((s) => s.trim() || undefined, () => undefined);
}

/** A tag, then a branch, then a commit hash (full or abbreviated) to a full commit hash. */
export async function resolveRevision(mirror: string, revision: string, name: string): Promise<string> {
  if (!revision.startsWith('-')) {
    const commit = (await revParse(mirror, `refs/tags/${revision}`)) ?? (await revParse(mirror, `refs/heads/${revision}`)) ??
      (/^[0-9a-f]{7,40}$/i.test(revision) ? await revParse(mirror, revision) : undefined);
    if (commit) return commit;
  }
  const tags = (await git(['tag', '--list', '--sort=v:refname'], { cwd: mirror })).split('\n').filter(Boolean);
  throw new ModuleError(
    `module ${name} has no tag ${revision}; ${tags.length > 0 ? `tags are ${tags.join(', ')}` : 'the repository has no tags'}`,
    { code: 'module-tag-not-found', details: { tags } },
  );
}

/** A checkout of one commit, made once and then reused (a commit never changes). */
export async function checkoutCommit(cacheDir: string, mirror: string, repository: string, commit: string, name: string): Promise<string> {
  const dir = path.join(cacheDir, repoKey(repository), 'commits', commit);
  if (await exists(dir)) return dir;
  if (!(await hasCommit(mirror, commit))) {
    throw new ModuleError(`module ${name}: ${safeUrl(repository)} has no commit ${commit}`, { code: 'module-commit-not-found' });
  }
  const temporary = `${dir}.${process.pid}.${Date.now()}`;
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await git(['clone', '--quiet', '--no-checkout', '--', mirror, temporary]);
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', commit], { cwd: temporary });
    await rm(path.join(temporary, '.git'), { recursive: true, force: true });
    await rename(temporary, dir).catch(async (error) => {
      await rm(temporary, { recursive: true, force: true });
      if (!(await exists(dir))) throw error;
    });
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
  return dir;
}
