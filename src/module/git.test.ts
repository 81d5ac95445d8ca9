import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { moduleIdOf } from '../protocol/ids.js';
import { createModuleResolver } from './resolve.js';
import { DEFAULT_SERVICE_MODULE_SOURCES } from './sources.js';

let work: string;
let origin: string;
const git = (...args: string[]) =>
  execFileSync('git', args, { cwd: origin, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).toString().trim();
const template = (message: string) => `{"machine": {"cpu": 1, "ram": 1}, "job": {"APIVersion": "V1beta1", "Spec": {"Engine": "Wasm",
  "Wasm": {"EntryModule": {"CID": "bafk"}, "Parameters": ["${message}", {{.M}}]}}}}`;
const commit = async (message: string) => {
  await writeFile(path.join(origin, 'lilypad_module.json.tmpl'), template(message));
  git('add', '.');
  git('commit', '-q', '-m', message);
  return git('rev-parse', 'HEAD');
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'lilypad-git-test-'));
  origin = path.join(work, 'lilypad-module-hello');
  await mkdir(origin);
  git('init', '-q', '-b', 'main');
  await commit('one');
  git('tag', 'v1');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

test('git modules: tags, a tag added after the first clone, a branch, a commit, and a missing tag', async () => {
  const resolver = createModuleResolver({ cacheDir: path.join(work, 'cache'), moduleOrg: `file://${work}/lilypad-module-{name}`, env: {} });
  const v1 = await resolver.resolve('hello:v1');
  expect(v1.template).toContain('"one"');
  expect(v1.ref).toEqual({ repository: `file://${origin}`, commit: git('rev-parse', 'v1'), path: '' });

  const second = await commit('two');
  git('tag', 'v2');
  const v2 = await resolver.resolve('hello:v2');
  expect(v2.ref.commit).toBe(second);
  expect(v2.template).toContain('"two"');
  expect(moduleIdOf(v2.ref)).not.toBe(moduleIdOf(v1.ref));

  git('checkout', '-q', '-b', 'feature');
  const third = await commit('three');
  expect((await resolver.resolve('hello:feature')).ref.commit).toBe(third);
  expect((await resolver.resolve(`hello:${second.slice(0, 10)}`)).ref.commit).toBe(second);
  expect((await resolver.resolve(`file://${origin}:${third}`)).template).toContain('"three"');

  await expect(resolver.resolve('hello:v9')).rejects.toThrow('module hello:v9 has no tag v9; tags are v1, v2');

  // A provider resolving the ref from a job offer gets the same files.
  const again = await resolver.resolveRef(v1.ref, 'hello:v1');
  expect(again.template).toBe(v1.template);
});

test('a git server that accepts and never answers: the fetch ends with a message, by the stall limit or the whole-fetch limit', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const ref = { repository: `http://127.0.0.1:${port}/owner/repo`, commit: 'a'.repeat(40), path: '' };
  try {
    const stalled = createModuleResolver({ cacheDir: path.join(work, 'cache-stall'), env: {}, fetchLimits: { stallSeconds: 1, timeoutMs: 600_000 } });
    await expect(stalled.resolveRef(ref, 'repo:v1')).rejects.toMatchObject({ message: expect.stringContaining(`module repo:v1: cannot fetch ${ref.repository}: the server stopped answering`), retryable: true });
    const timed = createModuleResolver({ cacheDir: path.join(work, 'cache-timeout'), env: {}, fetchLimits: { stallSeconds: 600, timeoutMs: 1500 } });
    await expect(timed.resolveRef(ref, 'repo:v1')).rejects.toThrow(`module repo:v1: cannot fetch ${ref.repository}: no answer within 1.5 s`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a repository larger than the size limit is refused and not kept', async () => {
  const big = path.join(work, 'lilypad-module-big');
  await mkdir(big);
  const gitBig = (...args: string[]) => execFileSync('git', args, { cwd: big, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  gitBig('init', '-q', '-b', 'main');
  await writeFile(path.join(big, 'lilypad_module.json.tmpl'), template('big'));
  await writeFile(path.join(big, 'weights.bin'), randomBytes(3 * 1024 * 1024));
  gitBig('add', '.');
  gitBig('commit', '-q', '-m', 'big');
  gitBig('tag', 'v1');
  const cacheDir = path.join(work, 'cache-big');
  const resolver = createModuleResolver({ cacheDir, env: {}, fetchLimits: { maxBytes: 1024 * 1024 } });
  // Too large stays too large: the CLI must not suggest trying again.
  await expect(resolver.resolve(`file://${big}:v1`)).rejects.toMatchObject({ message: expect.stringContaining(`cannot fetch file://${big}: the repository is larger than the 1 MiB allowed`), retryable: false });
  expect(await readdir(cacheDir, { recursive: true })).not.toContainEqual(expect.stringMatching(/\.pack$/));
});

test('a provider by default fetches nothing from its own disk or network; built-in modules and allowed sources it does', async () => {
  const provider = createModuleResolver({ cacheDir: path.join(work, 'cache-provider'), env: {}, sources: DEFAULT_SERVICE_MODULE_SOURCES });
  const mine = await createModuleResolver({ cacheDir: path.join(work, 'cache-mine'), env: {} }).resolve(`file://${origin}:v1`);
  await expect(provider.resolveRef(mine.ref, 'hello:v1')).rejects.toThrow(
    `module hello:v1: this node does not fetch modules from file://${origin} (only https is allowed, not file); LILYPAD_MODULE_SOURCES allows public-https; add the source there to allow it`,
  );
  const folder = path.join(work, 'folder-module');
  await mkdir(folder);
  await writeFile(path.join(folder, 'lilypad_module.json.tmpl'), template('folder'));
  const local = await createModuleResolver({ env: {} }).resolve(folder);
  await expect(provider.resolveRef(local.ref, 'folder')).rejects.toThrow(`this node does not fetch modules from file:${folder}`);
  await expect(provider.resolveRef({ repository: 'https://127.0.0.1/owner/repo', commit: 'a'.repeat(40), path: '' }, 'x')).rejects.toThrow(
    '(127.0.0.1 is not a public address); LILYPAD_MODULE_SOURCES allows public-https',
  );
  // Built-in modules ship with the provider: always allowed.
  const builtin = await createModuleResolver({ env: {} }).resolve('cowsay:v0.0.1');
  expect((await provider.resolveRef(builtin.ref, 'cowsay:v0.0.1')).template).toBe(builtin.template);
  await expect(provider.resolveRef({ ...builtin.ref, repository: `builtin/../../${path.relative('/', folder)}` }, 'x')).rejects.toThrow('there is no built-in module');
  // An operator who allows the source gets it.
  const widened = createModuleResolver({ cacheDir: path.join(work, 'cache-widened'), env: {}, sources: ['public-https', `file://${work}/`] });
  expect((await widened.resolveRef(mine.ref, 'hello:v1')).template).toBe(mine.template);
});
