import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LIVE_CHALLENGES, openStudioStore, studioDbPath, type StudioStore } from './store.js';

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

  it('keeps an API key to its daily cap: per UTC day, refunds not counted, other keys and the web not held back, checked with the reservation', async () => {
    let clock = Date.parse('2026-03-01T23:00:00Z');
    const timed = openStudioStore(dir, () => clock);
    // A second connection on the same database, as an operator's command while the studio runs.
    const operator = openStudioStore(dir, () => clock);
    try {
      const user = timed.createUser('ada@example.com', 'hash', 100, 'welcome');
      timed.addApiKey({ id: 'key_capped', userId: user.id, name: 'capped', keyHash: 'h1', prefix: 'lp_1', dailyCap: 5 });
      timed.addApiKey({ id: 'key_free', userId: user.id, name: 'free', keyHash: 'h2', prefix: 'lp_2' });
      expect(timed.apiKeysOf(user.id).find((k) => k.id === 'key_capped')!.dailyCap).toBe(5);
      const withKey = (id: string, credits: number, apiKeyId?: string) => ({ ...job(id, user.id, credits), ...(apiKeyId ? { apiKeyId } : {}) });
      expect(timed.addJob(withKey('job_1', 3, 'key_capped'))).toBe(true);
      expect(() => operator.addJob(withKey('job_2', 3, 'key_capped'))).toThrow("this API key's daily cap is 5 credits and it has spent 3 today (UTC)");
      expect(timed.job('job_2')).toBeUndefined();
      expect(timed.user(user.id)!.credits).toBe(97);
      // A refunded job gives its share of the cap back.
      timed.finishJob('job_1', { status: 'failed', error: 'no provider', refund: true });
      expect(timed.spentTodayWithKey('key_capped')).toBe(0);
      expect(timed.addJob(withKey('job_3', 5, 'key_capped'))).toBe(true);
      expect(() => timed.addJob(withKey('job_4', 1, 'key_capped'))).toThrow(/daily cap/);
      // Other keys and the web are not capped; the job records its key.
      expect(timed.addJob(withKey('job_5', 10, 'key_free'))).toBe(true);
      expect(timed.addJob(withKey('job_6', 10))).toBe(true);
      expect(timed.job('job_5')!.apiKeyId).toBe('key_free');
      expect(timed.job('job_6')!.apiKeyId).toBeUndefined();
      // A new UTC day starts a new allowance.
      clock = Date.parse('2026-03-02T00:00:01Z');
      expect(timed.spentTodayWithKey('key_capped')).toBe(0);
      expect(timed.addJob(withKey('job_7', 5, 'key_capped'))).toBe(true);
    } finally {
      operator.close();
      timed.close();
    }
  });

  it('adds the daily cap and the job\'s key to a database made before them', async () => {
    store.close();
    const old = new Database(studioDbPath(dir));
    old.exec('DROP TABLE jobs; DROP TABLE api_keys;');
    old.exec(`CREATE TABLE api_keys (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER);
      CREATE TABLE jobs (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, module TEXT NOT NULL, inputs TEXT NOT NULL, credits INTEGER NOT NULL, refunded INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, via TEXT NOT NULL, events TEXT NOT NULL DEFAULT '[]', deal_id TEXT, cid TEXT, dir TEXT, stdout TEXT, exit_code INTEGER, error TEXT, lp_paid TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);`);
    old.close();
    store = openStudioStore(dir);
    const user = store.createUser('ada@example.com', 'hash', 10, 'welcome');
    store.addApiKey({ id: 'key_a', userId: user.id, name: 'a', keyHash: 'h', prefix: 'lp_', dailyCap: 1 });
    expect(store.addJob({ ...job('job_a', user.id, 1), apiKeyId: 'key_a' })).toBe(true);
    expect(store.job('job_a')!.apiKeyId).toBe('key_a');
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

  it('keeps a browser\'s newest five challenges, and refuses new ones while the studio holds its most', () => {
    const binding = { kind: 'signin', binding: 'pre:a', data: {} };
    for (let i = 1; i <= 7; i++) expect(store.addChallenge(`c${i}`, binding, 60_000)).toBe(true);
    expect(store.takeChallenge('c1')).toBeUndefined();
    expect(store.takeChallenge('c2')).toBeUndefined();
    expect(store.takeChallenge('c3')?.binding).toBe('pre:a');
    // Another browser's are its own.
    expect(store.addChallenge('other', { ...binding, binding: 'pre:b' }, 60_000)).toBe(true);
    expect(store.takeChallenge('c7')).toBeDefined();

    // A flood from many browsers: past the most, nothing more is kept until some expire or are taken.
    const db = new Database(studioDbPath(dir));
    const insert = db.prepare('INSERT INTO auth_challenges (id, kind, binding, data, expires_at) VALUES (?, ?, ?, ?, ?)');
    const held = (db.prepare('SELECT COUNT(*) AS n FROM auth_challenges').get() as { n: number }).n;
    db.transaction(() => {
      for (let i = 0; i < MAX_LIVE_CHALLENGES - held; i++) insert.run(`flood${i}`, 'signin', `pre:flood${i}`, '{}', Date.now() + 60_000);
    })();
    db.close();
    expect(store.addChallenge('late', binding, 60_000)).toBe(false);
    expect(store.takeChallenge('late')).toBeUndefined();
    expect(store.takeChallenge('flood0')).toBeDefined();
    expect(store.addChallenge('late', binding, 60_000)).toBe(true);
  });

  it('marks a key used to the minute, so that a busy key does not write on every request', () => {
    let clock = 1_000_000;
    const timed = openStudioStore(path.join(dir, 'timed'), () => clock);
    const user = timed.createUser('ada@example.com', 'hash', 0, 'welcome');
    timed.addApiKey({ id: 'key_a', userId: user.id, name: 'a', keyHash: 'h', prefix: 'lp_' });
    expect(timed.apiKeysOf(user.id)[0]!.lastUsedAt).toBeUndefined();
    expect(timed.useApiKey('h')?.id).toBe('key_a');
    expect(timed.apiKeysOf(user.id)[0]!.lastUsedAt).toBe(1_000_000);
    clock += 30_000;
    timed.useApiKey('h');
    expect(timed.apiKeysOf(user.id)[0]!.lastUsedAt).toBe(1_000_000);
    clock += 30_000;
    timed.useApiKey('h');
    expect(timed.apiKeysOf(user.id)[0]!.lastUsedAt).toBe(1_060_000);
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

  it('lists a person\'s uploads newest first, their own only; the same bytes uploaded again move to the top under their new name', () => {
    let clock = 1_000;
    const timed = openStudioStore(path.join(dir, 'timed'), () => clock++);
    const ada = timed.createUser('ada@example.com', 'hash', 0, 'welcome');
    const grace = timed.createUser('grace@example.com', 'hash', 0, 'welcome');
    timed.addUpload(ada.id, { cid: 'bafkreia', name: 'a.txt', size: 1 });
    timed.addUpload(ada.id, { cid: 'bafkreib', name: 'b.txt', size: 2 });
    timed.addUpload(grace.id, { cid: 'bafkreia', name: 'hers.txt', size: 1 });
    expect(timed.uploadsOf(ada.id).map((u) => u.name)).toEqual(['b.txt', 'a.txt']);
    timed.addUpload(ada.id, { cid: 'bafkreia', name: 'again.txt', size: 1 });
    expect(timed.uploadsOf(ada.id).map((u) => [u.cid, u.name])).toEqual([['bafkreia', 'again.txt'], ['bafkreib', 'b.txt']]);
    expect(timed.uploadsOf(grace.id)).toEqual([{ cid: 'bafkreia', name: 'hers.txt', size: 1, createdAt: expect.any(Number) }]);
    timed.close();
  });
});
