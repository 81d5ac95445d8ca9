/**
 * `lilypad studio` as an operator runs it: the real CLI serving on 127.0.0.1 in front of its embedded
 * network, the operator's commands writing to its database while it runs, and a clean stop on SIGTERM that
 * leaves no process behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { processesWithMarker, runCli, startCli, untilGone } from './helpers.js';
import { readEvents } from './studio-helpers.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-studio-cli-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await rm(`${dataDir}-other`, { recursive: true, force: true });
});

describe('lilypad studio', () => {
  it('serves the studio, takes accounts, keys and credits from the operator while it runs, and stops cleanly on SIGTERM', async () => {
    const studio = startCli(['studio', '--port', '0', '--data-dir', dataDir]);
    await studio.printed(/Job network ready: embedded/);
    const url = /Lilypad AI Studio at (http:\/\/127\.0\.0\.1:\d+)/.exec(studio.output().stdout)![1]!;

    const badParallel = await runCli(['studio', '--parallel-jobs', '0', '--data-dir', `${dataDir}-other`]);
    expect(badParallel.code).toBe(1);
    expect(badParallel.stderr).toBe('Error: --parallel-jobs 0: give a whole number from 1 to 64\n');

    const port = new URL(url).port;
    const taken = await runCli(['studio', '--port', port, '--data-dir', `${dataDir}-other`]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`Error: cannot listen on 127.0.0.1:${port} (EADDRINUSE): choose another --port or --host\n`);

    const added = await runCli(['studio', 'users', 'add', 'ops@example.com', '--data-dir', dataDir]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^Added ops@example.com with 100 credits. Password \(shown once\): \S{20}\n$/);
    const again = await runCli(['studio', 'users', 'add', 'ops@example.com', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('Error: an account for ops@example.com already exists: sign in instead\n');

    const granted = await runCli(['studio', 'credits', 'grant', 'ops@example.com', '5', '--data-dir', dataDir]);
    expect(granted.stdout).toBe('Granted 5 credits to ops@example.com; balance 105\n');
    const nobody = await runCli(['studio', 'keys', 'create', 'nobody@example.com', '--data-dir', dataDir]);
    expect(nobody.stderr).toBe('Error: no account for nobody@example.com: add one with lilypad studio users add nobody@example.com\n');
    const created = await runCli(['studio', 'keys', 'create', 'ops@example.com', '--name', 'ci', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^lp_/);

    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const posted = await fetch(`${url}/api/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ module: 'cowsay', inputs: { Message: 'moo' } }) });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    const events = await readEvents(await fetch(`${url}/api/v1/jobs/${id}/events`, { headers: auth }));
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'succeeded', stdout: COWSAY_MOO } });
    expect(((await (await fetch(`${url}/api/v1/account`, { headers: auth })).json()) as { credits: number }).credits).toBe(104);

    // A key with a daily cap: one cowsay job (1 credit) a day, and the second refused before it is charged.
    const badCap = await runCli(['studio', 'keys', 'create', 'ops@example.com', '--daily-cap', '0', '--data-dir', dataDir]);
    expect(badCap.stderr).toBe('Error: --daily-cap 0: give a whole number of credits above 0, or leave it out for no cap\n');
    const cappedKey = await runCli(['studio', 'keys', 'create', 'ops@example.com', '--name', 'capped', '--daily-cap', '1', '--data-dir', dataDir]);
    expect(cappedKey.stderr).toMatch(/^API key "capped" for ops@example.com \(key_\S+\), a daily cap of 1 credits \(UTC days\); it is shown only now.\n$/);
    const capped = { authorization: `Bearer ${cappedKey.stdout.trim()}`, 'content-type': 'application/json' };
    const cowsay = JSON.stringify({ module: 'cowsay', inputs: { Message: 'moo' } });
    expect((await fetch(`${url}/api/v1/jobs`, { method: 'POST', headers: capped, body: cowsay })).status).toBe(201);
    const overCap = await fetch(`${url}/api/v1/jobs`, { method: 'POST', headers: capped, body: cowsay });
    expect(overCap.status).toBe(429);
    expect(((await overCap.json()) as { error: { code: string } }).error.code).toBe('daily-cap-reached');
    expect(((await (await fetch(`${url}/api/v1/account`, { headers: auth })).json()) as { credits: number }).credits).toBe(103);

    studio.child.kill('SIGTERM');
    const exited = await studio.exited;
    expect(exited.code).toBe(143);
    expect(exited.stderr).toContain('lilypad: stopped by SIGTERM');
    // anvil, the IPFS nodes and the workers went with it.
    await untilGone(processesWithMarker(studio.marker));
    expect(processesWithMarker(studio.marker)).toEqual([]);
  });
});
