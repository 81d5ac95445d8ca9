import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStudioStore, type StudioStore } from './store.js';

let dir: string;
let store: StudioStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-studio-store-'));
  store = openStudioStore(dir);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const job = (id: string, userId: number, credits: number) => ({ id, userId, module: 'cowsay:v0.0.1', inputs: { Message: 'moo' }, credits, via: 'api' as const });

describe('the studio store', () => {
  it('reserves a job\'s credits with the job, and records nothing when the balance is short', () => {
    const user = store.createUser('ada@example.com', 'hash', 3, 'welcome');
    expect(store.addJob(job('job_a', user.id, 2))).toBe(true);
    expect(store.user(user.id)!.credits).toBe(1);
    expect(store.addJob(job('job_b', user.id, 2))).toBe(false);
    expect(store.job('job_b')).toBeUndefined();
    expect(store.user(user.id)!.credits).toBe(1);
    expect(store.spentBy(user.id)).toBe(2);
  });

  it('refunds a job that failed before a deal, once, and keeps the charge of one that ran', () => {
    const user = store.createUser('ada@example.com', 'hash', 10, 'welcome');
    store.addJob(job('job_a', user.id, 2));
    store.addJob(job('job_b', user.id, 2));
    store.finishJob('job_a', { status: 'failed', error: 'no provider', refund: true });
    store.finishJob('job_a', { status: 'failed', error: 'again', refund: true });
    store.finishJob('job_b', { status: 'failed', error: 'exited 1', exitCode: 1, refund: false });
    expect(store.user(user.id)!.credits).toBe(8);
    expect(store.job('job_a')).toMatchObject({ status: 'failed', refunded: true, error: 'no provider' });
    expect(store.job('job_b')).toMatchObject({ status: 'failed', refunded: false });
    expect(store.creditEntriesOf(user.id).map((e) => e.delta)).toEqual([2, -2, -2, 10]);
  });

  it('keeps one account per email, whatever its case', () => {
    store.createUser('Ada@Example.com', 'hash', 0, 'welcome');
    expect(() => store.createUser('ada@example.com', 'hash', 0, 'welcome')).toThrow(/already exists/);
    expect(store.userByEmail('ADA@example.com')?.email).toBe('Ada@Example.com');
  });

  it('appends progress events to a job in order', () => {
    const user = store.createUser('ada@example.com', 'hash', 5, 'welcome');
    store.addJob(job('job_a', user.id, 1));
    store.addJobEvent('job_a', { type: 'job:submitting', line: 'one' });
    store.addJobEvent('job_a', { type: 'job:submitted', line: 'two' });
    expect(store.job('job_a')!.events).toEqual([{ type: 'job:submitting', line: 'one' }, { type: 'job:submitted', line: 'two' }]);
  });
});
