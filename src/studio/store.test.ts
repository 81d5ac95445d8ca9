import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStudioStore, studioDbPath, type StudioStore } from './store.js';

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

  it('hands out a challenge once, says when it expired, and clears out expired ones', () => {
    let clock = 1_000;
    const timed = openStudioStore(path.join(dir, 'timed'), () => clock);
    timed.addChallenge('c1', { kind: 'signin', binding: 'pre:a', data: { challenge: 'x' } }, 500);
    expect(timed.takeChallenge('c1')).toEqual({ kind: 'signin', binding: 'pre:a', data: { challenge: 'x' }, expired: false });
    expect(timed.takeChallenge('c1')).toBeUndefined();
    timed.addChallenge('c2', { kind: 'signin', binding: 'pre:a', data: {} }, 500);
    clock += 500;
    expect(timed.takeChallenge('c2')?.expired).toBe(true);
    timed.addChallenge('c3', { kind: 'signin', binding: 'pre:a', data: {} }, 500);
    clock += 600;
    timed.addChallenge('c4', { kind: 'signin', binding: 'pre:a', data: {} }, 500);
    expect(timed.takeChallenge('c3')).toBeUndefined();
    timed.close();
  });

  it('counts a passkey signature once: the counter moves by compare-and-set', () => {
    const user = store.createUser('ada@example.com', '', 0, 'welcome');
    store.addPasskey({ id: 'cred', userId: user.id, userHandle: 'h', publicKey: new Uint8Array([1, 2, 3]), counter: 1, transports: ['internal'], backedUp: false });
    expect(store.usePasskey('cred', 1, 2)).toBe(true);
    expect(store.usePasskey('cred', 1, 2)).toBe(false);
    expect(store.passkey('cred')).toMatchObject({ counter: 2, transports: ['internal'], publicKey: new Uint8Array([1, 2, 3]) });
    expect(store.removePasskey(user.id + 1, 'cred')).toBe(false);
    expect(store.removePasskey(user.id, 'cred')).toBe(true);
  });

  it('opens a database made before passkeys and providers, keeping its accounts', () => {
    store.close();
    const db = new Database(studioDbPath(dir));
    db.exec('DROP TABLE passkeys; DROP TABLE oidc_identities; DROP TABLE auth_challenges;');
    db.prepare('INSERT INTO users (email, password_hash, credits, created_at) VALUES (?, ?, ?, ?)').run('old@example.com', 'scrypt$...', 5, 1);
    db.close();
    store = openStudioStore(dir);
    const user = store.userByEmail('old@example.com')!;
    expect(user.credits).toBe(5);
    store.linkOidcIdentity('https://id.example.com', 'sub-1', user.id);
    expect(store.oidcUser('https://id.example.com', 'sub-1')?.email).toBe('old@example.com');
  });
});
