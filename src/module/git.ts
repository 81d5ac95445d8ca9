/**
 * Modules from git: one mirror clone per repository in the module cache, fetched every time a module is
 * resolved (so a tag pushed after the first clone is found), and one read-only checkout per commit.
 * Runs the `git` command; nothing here talks to a network except git itself, and only to the URL asked for.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ModuleError } from '../lib/errors.js';

const exec = promisify(execFile);

export const defaultModuleCacheDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.LILYPAD_MODULE_CACHE || path.join(os.tmpdir(), 'lilypad', 'modules');

export const defaultModuleOrg = (env: NodeJS.ProcessEnv = process.env): string =>
  env.LILYPAD_MODULE_ORG || 'https://github.com/lilypad-tech/lilypad-module-{name}';

/** The repository of `NAME:TAG` under an org pattern (`{name}` is replaced; otherwise `/NAME` is appended). */
export function repositoryForName(org: string, name: string): string {
  return org.includes('{name}') ? org.replaceAll('{name}', name) : `${org.replace(/\/$/, '')}/${name}`;
}

/** Strips credentials from a URL before it appears in a message. */
function safeUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

async function git(args: string[], options: { cwd?: string } = {}): Promise<string> {
  const { stdout } = await exec('git', args, {
    cwd: options.cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'echo', LC_ALL: 'C' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

const exists = (p: string) => stat(p).then(() => true, () => false);
const repoKey = (repository: string) => createHash('sha256').update(repository).digest('hex').slice(0, 24);

/**
 * Clones the repository into the cache on first use and fetches branches and tags every time after.
 * When `commit` is given and already present, a failed fetch (offline) is not an error.
 */
export async function fetchRepository(cacheDir: string, repository: string, name: string, commit?: string): Promise<string> {
  const base = path.join(cacheDir, repoKey(repository));
  const mirror = path.join(base, 'repo.git');
  const failed = (error: unknown): never => {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').at(-1);
    throw new ModuleError(`module ${name}: cannot fetch ${safeUrl(repository)}: ${stderr}`, { code: 'module-fetch-failed', retryable: true, cause: error });
  };
  if (!(await exists(path.join(mirror, 'HEAD')))) {
    await mkdir(base, { recursive: true });
    const temporary = `${mirror}.${process.pid}.${Date.now()}`;
    try {
      await git(['clone', '--quiet', '--mirror', '--', repository, temporary]);
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
    await git(['fetch', '--quiet', '--prune', '--tags', '--force', 'origin', '+refs/heads/*:refs/heads/*'], { cwd: mirror });
  } catch (error) {
    if (commit !== undefined && (await hasCommit(mirror, commit))) return mirror;
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
