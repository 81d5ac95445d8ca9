import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { moduleIdOf } from '../protocol/ids.js';
import { createModuleResolver } from './resolve.js';

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
