import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { moduleInfo, moduleInit, moduleRender, moduleTest } from './module.js';

test('module init makes a module that renders and runs deterministically', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'lilypad-module-init-'));
  try {
    const { dir } = await moduleInit('hello', { dir: path.join(work, 'hello') });
    // It declares its input, so a job without it is refused before it runs.
    expect((await moduleInfo(dir)).inputs).toEqual([{ name: 'Message', type: 'string', description: 'The text to say', required: true }]);
    await expect(moduleRender(dir, [])).rejects.toThrow('Message: missing; it is required (The text to say)');
    const { spec } = await moduleRender(dir, ['Message=hi']);
    expect(spec.job.Spec.Wasm?.Parameters).toEqual(['hi']);
    const result = await moduleTest(dir, ['Message=hi']);
    expect(result).toMatchObject({ deterministic: true, exitCodes: [0, 0] });
    expect(result.cids[0]).toBe(result.cids[1]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}, 60_000);
