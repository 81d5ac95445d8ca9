import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { ExecutorError } from '../../lib/errors.js';
import type { ExecutionRequest, ExecutorProgressEvent } from '../types.js';
import { cidOfDirectory } from '../../storage/index.js';
import { TEST_SEED } from '../conformance.js';
import { createWasmExecutor } from './wasm-executor.js';

const cowsay = readFileSync(new URL('../../../modules/cowsay/cowsay.wasm', import.meta.url));
const probe = readFileSync(new URL('./testdata/probe.wasm', import.meta.url));

const COW = [
  '        \\   ^__^',
  '         \\  (oo)\\_______',
  '            (__)\\       )\\/\\',
  '                ||----w |',
  '                ||     ||',
  '',
].join('\n');

let scratch: string;
const executor = createWasmExecutor();
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'lilypad-wasm-executor-'));
});
afterAll(async () => {
  await executor.close();
  rmSync(scratch, { recursive: true, force: true });
});

let runs = 0;
function request(module: Uint8Array, args: string[], extra: Partial<ExecutionRequest> = {}): ExecutionRequest {
  return {
    jobId: 'c0ffee',
    randomSeed: TEST_SEED,
    job: { engine: 'wasm', module, args, env: {} },
    resultDir: join(scratch, `result-${++runs}`),
    ...extra,
  };
}

/** Every file of a result directory, by relative path. */
function readTree(dir: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(files, readTree(path, `${prefix}${name}/`));
    else files[`${prefix}${name}`] = readFileSync(path).toString('base64');
  }
  return files;
}

async function expectExecutorError(promise: Promise<unknown>, code: string): Promise<ExecutorError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ExecutorError);
  expect((error as ExecutorError).code).toBe(code);
  return error as ExecutorError;
}

describe('cowsay', () => {
  test('draws the cow for "moo" and writes the result directory', async () => {
    const events: ExecutorProgressEvent[] = [];
    const result = await executor.run(request(cowsay, ['moo'], { onProgress: (event) => events.push(event) }));
    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(result.resultDir, 'stdout'), 'utf8')).toBe(` _____\n< moo >\n -----\n${COW}`);
    expect(readFileSync(join(result.resultDir, 'stderr'), 'utf8')).toBe('');
    expect(readFileSync(join(result.resultDir, 'exitCode'), 'utf8')).toBe('0');
    expect(readdirSync(join(result.resultDir, 'outputs'))).toEqual([]);
    expect(events.map((event) => event.type)).toEqual(['job:started', 'job:exited']);
    expect(events[1]).toMatchObject({ type: 'job:exited', jobId: 'c0ffee', exitCode: 0 });
  });

  test('wraps at 40 columns with the bubble borders cowsay draws', async () => {
    const result = await executor.run(
      request(cowsay, ['Lorem ipsum dolor sit amet, consectetur', 'adipiscing elit, sed do eiusmod tempor incididunt']),
    );
    expect(readFileSync(join(result.resultDir, 'stdout'), 'utf8')).toBe(
      [
        ' _________________________________________',
        '/ Lorem ipsum dolor sit amet, consectetur \\',
        '| adipiscing elit, sed do eiusmod tempor  |',
        '\\ incididunt                              /',
        ' -----------------------------------------',
        COW,
      ].join('\n'),
    );
  });

  test('without a message prints usage to stderr and exits 2', async () => {
    const result = await executor.run(request(cowsay, []));
    expect(result.exitCode).toBe(2);
    expect(readFileSync(join(result.resultDir, 'stderr'), 'utf8')).toMatch(/^usage: cowsay MESSAGE/);
    expect(readFileSync(join(result.resultDir, 'exitCode'), 'utf8')).toBe('2');
  });

  test('the same run twice gives the same bytes', async () => {
    const first = await executor.run(request(cowsay, ['same', 'bytes']));
    const second = await executor.run(request(cowsay, ['same', 'bytes']));
    expect(readTree(second.resultDir)).toEqual(readTree(first.resultDir));
  });
});

describe('determinism', () => {
  const probeRequest = (jobId: string, randomSeed = TEST_SEED) =>
    request(probe, ['first arg', 'second'], {
      jobId,
      randomSeed,
      job: { engine: 'wasm', module: probe, args: ['first arg', 'second'], env: { ZETA: 'z', ALPHA: 'a', MIDDLE: 'm' } },
    });

  test('clocks, random bytes, environment and outputs are the same on two runs of one job', async () => {
    const first = await executor.run(probeRequest('ab12'));
    const second = await executor.run(probeRequest('ab12'));
    expect(first.exitCode).toBe(0);
    expect(readTree(second.resultDir)).toEqual(readTree(first.resultDir));

    const stdout = readFileSync(join(first.resultDir, 'stdout'), 'utf8');
    expect(stdout).toContain('arg[0]=main.wasm\narg[1]=first arg\narg[2]=second\n');
    expect(stdout).toContain('env ALPHA=a\nenv MIDDLE=m\nenv ZETA=z\n');
    expect(stdout).toContain('realtime 1704067200.000000000 res 1000000\n');
    expect(stdout).toContain('monotonic 0.001000000 res 1000000\nmonotonic 0.002000000 res 1000000\n');
    expect(stdout).toContain('stdin bytes 0\n');
    expect(stdout).toContain('stat /etc/passwd Capabilities insufficient\n');
    expect(readFileSync(join(first.resultDir, 'outputs', 'time.txt'), 'utf8')).toBe('1704067200\n');
    expect(readFileSync(join(first.resultDir, 'stderr'), 'utf8')).toBe('probe done\n');
  });

  test('the random bytes follow the seed, not the job id', async () => {
    const random = (dir: string) => /random ([0-9a-f]{32})/.exec(readFileSync(join(dir, 'stdout'), 'utf8'))?.[1];
    const one = await executor.run(probeRequest('ab12'));
    const otherJob = await executor.run(probeRequest('ab13'));
    const otherSeed = await executor.run(probeRequest('ab12', 'cd'.repeat(32)));
    expect(random(one.resultDir)).toMatch(/^[0-9a-f]{32}$/);
    expect(readTree(otherJob.resultDir)).toEqual(readTree(one.resultDir));
    expect(random(otherSeed.resultDir)).not.toBe(random(one.resultDir));
  });

  test('a request without a 32-byte seed is refused', async () => {
    const error = await expectExecutorError(executor.run(request(probe, [], { randomSeed: 'ab12' })), 'invalid-request');
    expect(error.message).toBe('job c0ffee: randomSeed must be 64 hex digits (jobSeedOf in module/executor-job.ts makes one)');
  });

  test('/inputs is readable, read-only, and shows no host timestamps or inode numbers', async () => {
    const inputsDir = join(scratch, 'inputs');
    mkdirSync(inputsDir);
    writeFileSync(join(inputsDir, 'message.txt'), 'hello');
    const read = await executor.run(request(probe, [], { inputsDir }));
    expect(readFileSync(join(read.resultDir, 'stdout'), 'utf8')).toContain(
      'input hello size 5 mtime 1704067200 ino 0\n',
    );
    const write = await executor.run(request(probe, ['write-inputs'], { inputsDir }));
    expect(write.exitCode).toBe(0);
    expect(readFileSync(join(write.resultDir, 'stdout'), 'utf8')).toBe('write-inputs Capabilities insufficient\n');
    expect(readdirSync(inputsDir)).toEqual(['message.txt']);
  });
});

describe('limits and failures', () => {
  test('an exit code is passed through', async () => {
    const result = await executor.run(request(probe, ['exit', '3']));
    expect(result.exitCode).toBe(3);
    expect(readFileSync(join(result.resultDir, 'exitCode'), 'utf8')).toBe('3');
  });

  test('exit codes keep their low 8 bits, as on POSIX: exit(257) is 1, exit(256) is 0, exit(-1) is 255', async () => {
    for (const [code, reported] of [['257', 1], ['256', 0], ['-1', 255], ['255', 255]] as const) {
      const result = await executor.run(request(probe, ['exit', code]));
      expect(result.exitCode).toBe(reported);
      expect(readFileSync(join(result.resultDir, 'exitCode'), 'utf8')).toBe(String(reported));
    }
  });

  test('an endless loop is stopped at the wall-clock limit and recorded in its result', async () => {
    const result = await executor.run(request(probe, ['loop'], { limits: { wallClockMs: 300 } }));
    expect(result.failure).toEqual({
      code: 'wall-clock-limit',
      message: 'the job ran past its wall-clock limit of 300 ms and was stopped',
    });
    expect(result.exitCode).toBe(124);
    expect(readTree(result.resultDir)).toEqual({
      error: Buffer.from('wall-clock-limit: the job ran past its wall-clock limit of 300 ms and was stopped\n').toString('base64'),
      exitCode: Buffer.from('124').toString('base64'),
      stderr: '',
      stdout: '',
    });
    // The executor goes on working.
    expect((await executor.run(request(probe, ['exit', '0']))).exitCode).toBe(0);
  });

  test('a job stopped at its wall clock gives the same result CID under two job ids', async () => {
    const cids = new Set<string>();
    for (const jobId of ['aa01', 'bb02']) {
      const result = await executor.run(request(probe, ['flood', '100000'], { jobId, limits: { wallClockMs: 300 } }));
      expect(result.failure?.code).toBe('wall-clock-limit');
      cids.add((await cidOfDirectory(result.resultDir)).toString());
    }
    expect(cids.size).toBe(1);
  });

  test('an abort stops a running job', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expectExecutorError(executor.run(request(probe, ['loop'], { signal: controller.signal })), 'aborted');
  });

  test('a trap is recorded in the result, without the job id', async () => {
    const trap = await executor.run(request(probe, ['trap'], { jobId: 'dead01' }));
    expect(trap.exitCode).toBe(134);
    expect(trap.failure).toEqual({ code: 'wasm-trap', message: 'the job trapped: unreachable' });
    expect(readFileSync(join(trap.resultDir, 'error'), 'utf8')).toBe('wasm-trap: the job trapped: unreachable\n');
    expect(readFileSync(join(trap.resultDir, 'exitCode'), 'utf8')).toBe('134');
    const outOfBounds = await executor.run(request(probe, ['oob']));
    expect(outOfBounds.failure?.message).toMatch(/^the job trapped: memory access out of bounds$/);
  });

  test('a missing entry point is named, with what the module exports', async () => {
    const error = await expectExecutorError(
      executor.run(request(cowsay, [], { job: { engine: 'wasm', module: cowsay, entryPoint: 'main', args: [], env: {} } })),
      'entry-point-missing',
    );
    expect(error.message).toContain('exports no function "main"; it exports "_start"');
  });

  test('bytes that are not WebAssembly are refused', async () => {
    const bytes = new TextEncoder().encode('#!/bin/sh\necho hi\n');
    await expectExecutorError(executor.run(request(bytes, [])), 'invalid-module');
    const broken = cowsay.subarray(0, 100);
    await expectExecutorError(executor.run(request(broken, [])), 'invalid-module');
  });

  test('a memory limit makes allocation fail inside the job', async () => {
    const limits = { memoryBytes: 8 * 1024 * 1024 };
    const small = await executor.run(request(probe, ['grow', '2'], { limits }));
    expect(readFileSync(join(small.resultDir, 'stdout'), 'utf8')).toBe('malloc 2 MiB ok\n');
    const large = await executor.run(request(probe, ['grow', '16'], { limits }));
    expect(large.exitCode).toBe(12);
    expect(readFileSync(join(large.resultDir, 'stdout'), 'utf8')).toBe('malloc 16 MiB failed\n');
    await expectExecutorError(executor.run(request(probe, [], { limits: { memoryBytes: 1024 } })), 'memory-limit');
  });

  test('a job allocating without bound stops near its 64 MiB cap (ram 64)', async () => {
    const result = await executor.run(request(probe, ['hog'], { limits: { memoryBytes: 64 * 1024 * 1024 } }));
    expect(result.exitCode).toBe(12);
    const got = Number(/^hog stopped after (\d+) MiB\n$/.exec(readFileSync(join(result.resultDir, 'stdout'), 'utf8'))?.[1]);
    expect(got).toBeGreaterThanOrEqual(60);
    expect(got).toBeLessThan(64);
  });

  test('a result directory with outputs in it is refused', async () => {
    const resultDir = join(scratch, 'used');
    mkdirSync(join(resultDir, 'outputs'), { recursive: true });
    writeFileSync(join(resultDir, 'outputs', 'old.txt'), 'old');
    await expectExecutorError(executor.run(request(cowsay, ['moo'], { resultDir })), 'result-dir-not-empty');
  });

  test('finished, trapped and stopped jobs leave no file descriptors open', async () => {
    const inputsDir = join(scratch, 'fd-inputs');
    mkdirSync(inputsDir, { recursive: true });
    const open = () => readdirSync('/proc/self/fd').length;
    await executor.run(request(probe, ['exit', '0'], { inputsDir })); // warm up: worker, module cache
    const before = open();
    for (let i = 0; i < 20; i++) {
      await executor.run(request(probe, ['write', '/outputs/left-open.txt', 'x'], { inputsDir }));
      await executor.run(request(probe, ['trap'], { inputsDir })).catch(() => {});
      await executor.run(request(probe, ['loop'], { inputsDir, limits: { wallClockMs: 20 } })).catch(() => {});
    }
    expect(open()).toBeLessThanOrEqual(before + 4);
  });

  test('a closed executor refuses runs', async () => {
    const closing = createWasmExecutor();
    expect(await closing.isAvailable()).toBe(true);
    await closing.close();
    await closing.close();
    await expectExecutorError(closing.run(request(cowsay, ['moo'])), 'executor-closed');
  });
});
