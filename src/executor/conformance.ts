/**
 * The conformance suite: what every executor does, run against each implementation by a test beside it
 * (`wasm/wasm-conformance.test.ts`, `docker/docker-conformance.test.ts`). The jobs are one program, the probe
 * (`wasm/testdata/probe.c`), built for each engine, and cowsay. Hostile jobs are here too: each must end
 * with a clear error or a capped result, leave the host untouched, and leave the executor serving.
 *
 * Where engines contain a job differently, each subject declares its engine's behaviour (`contains`) and the
 * suite checks that one: WebAssembly refuses a write past the `/outputs` cap (ENOSPC) while Docker stops the
 * container; WebAssembly's malloc fails at the memory cap while Docker's kernel kills the container. Either
 * way a limit hit, a trap or invalid outputs end in a result folder that records it (failure.ts): `exitCode`,
 * a one-line `error`, and for a limit hit nothing else (empty stdout, stderr and outputs/).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { ExecutorError } from '../lib/errors.js';
import { MAX_OUTPUT_DEPTH } from './outputs.js';
import type { ExecutionRequest, ExecutionResult, Executor, ExecutorJob, ExecutorProgressEvent, JobFailureCode } from './types.js';

export interface ConformancePrograms {
  /** The probe with these arguments (its modes are listed at the top of probe.c). */
  probe(args: string[]): ExecutorJob;
  /** cowsay with a one-line message. */
  cowsay(message: string): ExecutorJob;
}

export interface ConformanceSubject {
  /** Shown in the suite's name. */
  name: string;
  /** Why the suite cannot run on this machine (no engine); it is then skipped with this message. */
  skip?: () => string | undefined;
  setup(): Promise<{ executor: Executor; programs: ConformancePrograms; teardown?: () => Promise<void> }>;
  /** Seconds a stopped job may take to end (Docker's stop grace period and container removal). */
  stopSlackMs?: number;
  /** How the engine holds a job to its limits. */
  contains: {
    /** At the memory cap: allocation fails inside the job (it decides how to end), or the job is killed. */
    memory: 'allocation-fails' | 'killed';
    /** At the /outputs cap: writes fail with ENOSPC, or the job is stopped. */
    outputs: 'enospc' | 'stopped';
    /** A symbolic link the job makes in /outputs: made and then refused, or never made at all. */
    symlinks: 'refused-after' | 'cannot-make';
  };
}

export const COWSAY_MOO = [
  ' _____',
  '< moo >',
  ' -----',
  '        \\   ^__^',
  '         \\  (oo)\\_______',
  '            (__)\\       )\\/\\',
  '                ||----w |',
  '                ||     ||',
  '',
].join('\n');

const MiB = 1024 * 1024;

/** A fixed seed for test runs (a real one comes from jobSeedOf). */
export const TEST_SEED = 'abababababababababababababababababababababababababababababababab';

export async function expectExecutorError(promise: Promise<unknown>, ...codes: string[]): Promise<ExecutorError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `expected an ExecutorError (${codes.join(' or ')})`).toBeInstanceOf(ExecutorError);
  expect(codes).toContain((error as ExecutorError).code);
  return error as ExecutorError;
}

/** Every file of a folder by relative path (folders only through their files). */
function readTree(dir: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) Object.assign(files, readTree(path, `${prefix}${entry.name}/`));
    else files[`${prefix}${entry.name}`] = readFileSync(path, 'utf8');
  }
  return files;
}

function treeSize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? treeSize(path) : statSync(path).size;
  }
  return total;
}

export function describeExecutorConformance(subject: ConformanceSubject): void {
  const reason = subject.skip?.();
  if (reason) {
    describe.skip(`executor conformance: ${subject.name} (skipped: ${reason})`, () => {
      test('skipped', () => {});
    });
    return;
  }

  describe(`executor conformance: ${subject.name}`, () => {
    let executor: Executor;
    let programs: ConformancePrograms;
    let teardown: (() => Promise<void>) | undefined;
    let scratch: string;
    let runs = 0;
    const slackMs = subject.stopSlackMs ?? 2_000;

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'lilypad-conformance-'));
      ({ executor, programs, teardown } = await subject.setup());
    });
    afterAll(async () => {
      await executor?.close();
      await teardown?.();
      rmSync(scratch, { recursive: true, force: true });
    });

    const request = (job: ExecutorJob, extra: Partial<ExecutionRequest> = {}): ExecutionRequest => ({
      jobId: `c0ffee${(++runs).toString(16).padStart(4, '0')}`,
      randomSeed: TEST_SEED,
      job,
      resultDir: join(scratch, `result-${runs}`),
      ...extra,
    });
    const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
    /** What a limit hit leaves: the exit code, the one-line error, and nothing the job wrote. */
    const expectLimitRecord = (result: ExecutionResult, code: JobFailureCode, exitCode: number, message: string) => {
      expect(result.failure).toEqual({ code, message });
      expect(result.exitCode).toBe(exitCode);
      expect(readTree(result.resultDir)).toEqual({ error: `${code}: ${message}\n`, exitCode: String(exitCode), stderr: '', stdout: '' });
      expect(readdirSync(join(result.resultDir, 'outputs'))).toEqual([]);
    };

    test('is available', async () => {
      expect(await executor.isAvailable()).toBe(true);
      await executor.prepare();
    });

    test('cowsay: the result folder holds stdout, stderr, exitCode and outputs/, and progress is reported', async () => {
      const events: ExecutorProgressEvent[] = [];
      const result = await executor.run(request(programs.cowsay('moo'), { onProgress: (event) => events.push(event) }));
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toEqual({ stdout: false, stderr: false });
      expect(readdirSync(result.resultDir).sort()).toEqual(['exitCode', 'outputs', 'stderr', 'stdout']);
      expect(read(result.resultDir, 'stdout')).toBe(COWSAY_MOO);
      expect(read(result.resultDir, 'stderr')).toBe('');
      expect(read(result.resultDir, 'exitCode')).toBe('0');
      expect(readdirSync(join(result.resultDir, 'outputs'))).toEqual([]);
      expect(events.map((event) => event.type)).toEqual(['job:started', 'job:exited']);
      expect(events[1]).toMatchObject({ type: 'job:exited', exitCode: 0 });
    });

    test('stdout reaches onOutput as it is written: the same bytes as the result keeps, in order', async () => {
      const chunks: Uint8Array[] = [];
      const result = await executor.run(request(programs.cowsay('moo'), { onOutput: (chunk) => chunks.push(chunk) }));
      expect(Buffer.concat(chunks).toString('utf8')).toBe(COWSAY_MOO);
      expect(read(result.resultDir, 'stdout')).toBe(COWSAY_MOO);
    });

    test('stdout reaches onOutput while the job runs: a job that never ends is stopped from its first chunk', async () => {
      const controller = new AbortController();
      let received = 0;
      const run = executor.run(
        request(programs.probe(['flood', '100000']), {
          signal: controller.signal,
          onOutput: (chunk) => {
            received += chunk.length;
            controller.abort();
          },
        }),
      );
      await expectExecutorError(run, 'aborted');
      expect(received).toBeGreaterThan(0);
    });

    test('an onOutput that throws does not touch the job', async () => {
      const result = await executor.run(
        request(programs.cowsay('moo'), {
          onOutput: () => {
            throw new Error('the viewer went away');
          },
        }),
      );
      expect(result.exitCode).toBe(0);
      expect(read(result.resultDir, 'stdout')).toBe(COWSAY_MOO);
    });

    test('the exit code is passed through, and written without a newline', async () => {
      const result = await executor.run(request(programs.probe(['exit', '3'])));
      expect(result.exitCode).toBe(3);
      expect(read(result.resultDir, 'exitCode')).toBe('3');
    });

    test('exit statuses keep their low 8 bits, as POSIX reports them: exit(257) is 1', async () => {
      const result = await executor.run(request(programs.probe(['exit', '257'])));
      expect(result.exitCode).toBe(1);
      expect(read(result.resultDir, 'exitCode')).toBe('1');
    });

    test('a file written to /outputs lands in the result folder', async () => {
      const result = await executor.run(request(programs.probe(['write', '/outputs/hello.txt', 'hello from the job'])));
      expect(result.exitCode).toBe(0);
      expect(read(join(result.resultDir, 'outputs'), 'hello.txt')).toBe('hello from the job');
    });

    test('/inputs is readable and read-only, down to its folders and files', async () => {
      const inputsDir = join(scratch, 'inputs');
      mkdirSync(join(inputsDir, 'data'), { recursive: true });
      writeFileSync(join(inputsDir, 'message.txt'), 'hello input');
      writeFileSync(join(inputsDir, 'data', 'b.txt'), 'nested input');
      const readInput = await executor.run(request(programs.probe(['cat', '/inputs/message.txt']), { inputsDir }));
      expect(read(readInput.resultDir, 'stdout')).toBe('hello input');
      const readNested = await executor.run(request(programs.probe(['cat', '/inputs/data/b.txt']), { inputsDir }));
      expect(read(readNested.resultDir, 'stdout')).toBe('nested input');
      // Inputs come from CIDs: a job that could change them would run on other bytes than the ones signed for.
      for (const target of ['/inputs/new.txt', '/inputs/message.txt', '/inputs/data/new.txt', '/inputs/data/b.txt']) {
        const write = await executor.run(request(programs.probe(['write', target, 'x']), { inputsDir }));
        expect(write.exitCode, target).toBe(16);
      }
      expect(readdirSync(inputsDir).sort()).toEqual(['data', 'message.txt']);
      expect(readdirSync(join(inputsDir, 'data'))).toEqual(['b.txt']);
      expect(read(join(inputsDir), 'message.txt')).toBe('hello input');
      expect(read(join(inputsDir, 'data'), 'b.txt')).toBe('nested input');
    });

    test('a result folder with outputs in it is refused', async () => {
      const resultDir = join(scratch, 'used');
      mkdirSync(join(resultDir, 'outputs'), { recursive: true });
      writeFileSync(join(resultDir, 'outputs', 'old.txt'), 'old');
      await expectExecutorError(executor.run(request(programs.cowsay('moo'), { resultDir })), 'result-dir-not-empty');
    });

    test('two jobs at once each get their own result', async () => {
      const [one, two] = await Promise.all([
        executor.run(request(programs.probe(['write', '/outputs/n.txt', 'one']))),
        executor.run(request(programs.probe(['write', '/outputs/n.txt', 'two']))),
      ]);
      expect(read(join(one.resultDir, 'outputs'), 'n.txt')).toBe('one');
      expect(read(join(two.resultDir, 'outputs'), 'n.txt')).toBe('two');
    });

    describe('hostile jobs', () => {
      test('an endless loop is stopped at the wall-clock limit into a result that says so, and the executor goes on serving', async () => {
        const started = performance.now();
        const result = await executor.run(request(programs.probe(['loop']), { limits: { wallClockMs: 500 } }));
        expect(performance.now() - started).toBeLessThan(500 + slackMs + 3_000);
        expectLimitRecord(result, 'wall-clock-limit', 124, 'the job ran past its wall-clock limit of 500 ms and was stopped');
        expect((await executor.run(request(programs.cowsay('moo')))).exitCode).toBe(0);
      });

      test('a job stopped mid-output gives the same result under another job id', async () => {
        const one = await executor.run(request(programs.probe(['flood', '100000']), { limits: { wallClockMs: 500 } }));
        const two = await executor.run(request(programs.probe(['flood', '100000']), { limits: { wallClockMs: 500 } }));
        expect(readTree(two.resultDir)).toEqual(readTree(one.resultDir));
      });

      test('a live view does not change the result, and sees what it keeps: many writes from one reused buffer', async () => {
        const inputsDir = join(scratch, 'numbered-inputs');
        mkdirSync(inputsDir, { recursive: true });
        writeFileSync(join(inputsDir, 'lines.txt'), Array.from({ length: 5000 }, (_, line) => `line ${line}\n`).join(''));
        const cat = programs.probe(['cat', '/inputs/lines.txt']);
        const quiet = await executor.run(request(cat, { inputsDir }));
        const chunks: Uint8Array[] = [];
        const watched = await executor.run(request(cat, { inputsDir, onOutput: (chunk) => chunks.push(chunk) }));
        expect(readTree(watched.resultDir)).toEqual(readTree(quiet.resultDir));
        expect(Buffer.concat(chunks).toString('utf8')).toBe(read(watched.resultDir, 'stdout'));
      });

      test('an abort stops a running job', async () => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 300);
        await expectExecutorError(executor.run(request(programs.probe(['loop']), { signal: controller.signal })), 'aborted');
      });

      test('1 GiB written to stdout is capped, and the job still finishes', async () => {
        const events: ExecutorProgressEvent[] = [];
        let streamed = 0;
        const result = await executor.run(
          request(programs.probe(['flood', '1024']), {
            limits: { stdoutBytes: MiB, stderrBytes: 64 * 1024, wallClockMs: 120_000 },
            onProgress: (event) => events.push(event),
            onOutput: (chunk) => (streamed += chunk.length),
          }),
        );
        expect(streamed).toBe(MiB); // live output stops at the cap too
        expect(result.exitCode).toBe(0);
        expect(result.truncated).toEqual({ stdout: true, stderr: true });
        const stdout = readFileSync(join(result.resultDir, 'stdout'));
        expect(stdout.length).toBe(MiB);
        expect(stdout.every((byte) => byte === 0x79)).toBe(true); // 'y'
        expect(statSync(join(result.resultDir, 'stderr')).size).toBe(64 * 1024);
        expect(events.filter((event) => event.type === 'job:output-capped')).toHaveLength(2);
      }, 120_000);

      test('memory growth past the cap fails inside the job or ends it, and a smaller job fits', async () => {
        const limits = { memoryBytes: 64 * MiB, wallClockMs: 60_000 };
        const small = await executor.run(request(programs.probe(['grow', '8']), { limits }));
        expect(read(small.resultDir, 'stdout')).toBe('malloc 8 MiB ok\n');
        const hog = await executor.run(request(programs.probe(['hog']), { limits }));
        if (subject.contains.memory === 'allocation-fails') {
          // The job gives up on its own (exit 12) and keeps what it wrote; the record names the limit.
          const failure = { code: 'memory-limit', message: 'the job exited with code 12 with its memory at its limit of 64 MiB; the module can ask for more with machine.ram' };
          expect(hog.failure).toEqual(failure);
          expect(read(hog.resultDir, 'error')).toBe(`memory-limit: ${failure.message}\n`);
          expect(hog.exitCode).toBe(12);
          const got = Number(/^hog stopped after (\d+) MiB\n$/.exec(read(hog.resultDir, 'stdout'))?.[1]);
          expect(got).toBeGreaterThanOrEqual(56);
          expect(got).toBeLessThan(64);
        } else {
          expectLimitRecord(hog, 'memory-limit', 137, `the job ran out of memory: it used more than its ${64 * MiB} bytes and was killed`);
        }
      });

      test('writes past the /outputs cap are refused or stop the job; the result never goes past the cap', async () => {
        const limits = { outputsBytes: 4 * MiB, wallClockMs: 30_000 };
        const fill = await executor.run(request(programs.probe(['fill', '64']), { limits }));
        if (subject.contains.outputs === 'stopped') {
          expectLimitRecord(fill, 'outputs-limit', 153, 'the job wrote more than its /outputs limit of 4194304 bytes');
        } else {
          expect(fill.exitCode).toBe(17);
          expect(treeSize(join(fill.resultDir, 'outputs'))).toBeLessThanOrEqual(4 * MiB);
          expect(read(fill.resultDir, 'stdout')).toMatch(/^fill stopped after \d+ bytes: No space left on device\n$/);
        }
        const sparse = await executor.run(request(programs.probe(['sparse']), { limits }));
        expectLimitRecord(sparse, 'outputs-limit', 153, 'the job wrote more than its /outputs limit of 4194304 bytes');
        expect((await executor.run(request(programs.probe(['fill', '1']), { limits }))).exitCode).toBe(0);
      });

      test('writes outside /outputs do not reach the host or the result', async () => {
        const marker = `lilypad-escape-${process.pid}-${runs}`;
        const hostFile = join(scratch, `${marker}.txt`);
        const attempts = [`/etc/${marker}`, `/tmp/${marker}`, `/outputs/../${marker}`, `/inputs/../${marker}`, hostFile];
        for (const path of attempts) {
          const result = await executor.run(request(programs.probe(['write', path, 'escaped'])));
          expect(readdirSync(result.resultDir).sort()).toEqual(['exitCode', 'outputs', 'stderr', 'stdout']);
          expect(readdirSync(join(result.resultDir, 'outputs'))).toEqual([]);
          expect(existsSync(join(dirname(result.resultDir), marker))).toBe(false);
        }
        expect(existsSync(`/etc/${marker}`)).toBe(false);
        expect(existsSync(join(tmpdir(), marker))).toBe(false);
        expect(existsSync(hostFile)).toBe(false);
        expect(existsSync(join(scratch, marker))).toBe(false);
      });

      test("a read of /etc/passwd or another host file does not see the host's", async () => {
        const hostPasswd = readFileSync('/etc/passwd', 'utf8');
        const passwd = await executor.run(request(programs.probe(['cat', '/etc/passwd'])));
        expect(read(passwd.resultDir, 'stdout')).not.toContain(hostPasswd.trim());
        const secret = join(scratch, 'host-secret.txt');
        writeFileSync(secret, 'the host secret');
        const other = await executor.run(request(programs.probe(['cat', secret])));
        expect(read(other.resultDir, 'stdout')).not.toContain('the host secret');
      });

      test('a symbolic link left in /outputs is refused, so nobody follows it out', async () => {
        const result = await executor.run(request(programs.probe(['symlink'])));
        expect(readdirSync(join(result.resultDir, 'outputs'))).toEqual([]);
        if (subject.contains.symlinks === 'refused-after') {
          expect(result.exitCode).toBe(1);
          expect(result.failure).toEqual({
            code: 'outputs-invalid',
            message: 'the job left a symbolic link at /outputs/passwd; outputs may hold only files and folders',
          });
          expect(read(result.resultDir, 'error')).toBe(`outputs-invalid: ${result.failure?.message}\n`);
        } else {
          expect(result.failure).toBeUndefined();
        }
      });

      test('folders nested past MAX_OUTPUT_DEPTH are refused in the result, and a shallower tree is kept', async () => {
        const deep = await executor.run(request(programs.probe(['nest', String(MAX_OUTPUT_DEPTH + 1)]), { limits: { wallClockMs: 60_000 } }));
        expect(deep.failure?.code).toBe('outputs-invalid');
        expect(deep.failure?.message).toBe(`the job nested folders in /outputs deeper than ${MAX_OUTPUT_DEPTH} levels; a result may be at most that deep`);
        expect(readdirSync(join(deep.resultDir, 'outputs'))).toEqual([]);
        const fits = await executor.run(request(programs.probe(['nest', '20'])));
        expect(fits.failure).toBeUndefined();
        expect(existsSync(join(fits.resultDir, 'outputs', ...Array(20).fill('d')))).toBe(true);
      });
    });

    test('a closed executor refuses runs; closing twice is harmless', async () => {
      const { executor: closing, teardown: closeTeardown } = await subject.setup();
      await closing.close();
      await closing.close();
      await expectExecutorError(closing.run(request(programs.cowsay('moo'))), 'executor-closed');
      await closeTeardown?.();
    });
  });
}
