/**
 * The studio's state, in one SQLite database in its data folder (`studio.db`): users, their sessions, API
 * keys, credits (a balance and the ledger of every change), jobs, and the other ways to sign in (passkeys,
 * OpenID Connect identities, and the single-use challenges of sign-ins in progress). WAL mode and a busy timeout, so that the
 * operator's commands (`lilypad studio users add ...`) write to it while the studio runs. Secrets are never
 * stored: sessions and API keys by their sha256, passwords as scrypt hashes.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UserInputError } from '../lib/errors.js';

export const STUDIO_DB_FILE = 'studio.db';

export interface User {
  id: number;
  email: string;
  /** Empty for an account made with a passkey or a provider: it has no password to sign in with. */
  passwordHash: string;
  credits: number;
  createdAt: number;
}

export interface Session {
  userId: number;
  csrfToken: string;
  expiresAt: number;
}

export interface ApiKey {
  id: string;
  userId: number;
  name: string;
  /** The first characters of the key, shown so a person can tell keys apart; not enough to use it. */
  prefix: string;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
  /** The most credits jobs started with this key may cost per UTC day; none when absent. */
  dailyCap?: number;
}

/** A WebAuthn credential: its public key and the last signature counter the authenticator reported. */
export interface Passkey {
  /** The credential id, base64url. */
  id: string;
  userId: number;
  /** The WebAuthn user handle (base64url) the credential was made for; one per account. */
  userHandle: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
  /** Synced to the person's other devices (a multi-device credential that was backed up). */
  backedUp: boolean;
  createdAt: number;
  lastUsedAt?: number;
}

/** A sign-in in progress: what its second step checks, kept until it is taken once or expires. */
export interface AuthChallenge {
  kind: string;
  /** Whom the challenge was given to (a hash of the browser's pre-session cookie or session); only they may answer it. */
  binding: string;
  data: Record<string, string>;
  expired: boolean;
}

export interface CreditEntry {
  delta: number;
  reason: string;
  jobId?: string;
  createdAt: number;
}

/** Data a person put on the network through the studio (a file, or a folder of files), by its CID. */
export interface Upload {
  cid: string;
  /** The file's name, or "N files: a.txt, b.txt, …" for a folder made of several. */
  name: string;
  /** Bytes of the files together. */
  size: number;
  createdAt: number;
}

/** `queued` (waiting its turn), `running`, `succeeded`, `failed`. */
export type StudioJobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface StudioJob {
  id: string;
  userId: number;
  module: string;
  inputs: Record<string, string>;
  /** Credits reserved for the job, and kept unless it was refunded. */
  credits: number;
  refunded: boolean;
  status: StudioJobStatus;
  /** How it was asked for: the web app or the API. */
  via: 'web' | 'api';
  /** The API key that started it (API jobs only). */
  apiKeyId?: string;
  /** Progress events, as JSON-safe objects, in order. */
  events: Array<Record<string, unknown>>;
  dealId?: string;
  cid?: string;
  dir?: string;
  stdout?: string;
  exitCode?: number;
  error?: string;
  /** LP (wei, decimal) the studio paid the provider on chain. */
  lpPaid?: string;
  createdAt: number;
  updatedAt: number;
}

/** How a job ended: what of it is known, and whether its reserved credits go back. */
export type JobOutcome = Pick<StudioJob, 'dealId' | 'cid' | 'dir' | 'stdout' | 'exitCode' | 'error' | 'lpPaid'> & {
  status: 'succeeded' | 'failed';
  /** Give the reserved credits back: the job failed before the studio paid for it. */
  refund: boolean;
};

export type StudioStore = ReturnType<typeof openStudioStore>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER,
  daily_cap INTEGER
);
CREATE TABLE IF NOT EXISTS credit_entries (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  delta INTEGER NOT NULL,
  reason TEXT NOT NULL,
  job_id TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  module TEXT NOT NULL,
  inputs TEXT NOT NULL,
  credits INTEGER NOT NULL,
  refunded INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  via TEXT NOT NULL,
  events TEXT NOT NULL DEFAULT '[]',
  deal_id TEXT, cid TEXT, dir TEXT, stdout TEXT, exit_code INTEGER, error TEXT, lp_paid TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  api_key_id TEXT
);
CREATE TABLE IF NOT EXISTS passkeys (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  user_handle TEXT NOT NULL,
  public_key BLOB NOT NULL,
  counter INTEGER NOT NULL,
  transports TEXT NOT NULL DEFAULT '[]',
  backed_up INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE TABLE IF NOT EXISTS oidc_identities (
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, subject)
);
CREATE TABLE IF NOT EXISTS auth_challenges (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  binding TEXT NOT NULL,
  data TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
  cid TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, cid)
);
CREATE INDEX IF NOT EXISTS uploads_by_user ON uploads(user_id, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs(user_id, created_at);
CREATE INDEX IF NOT EXISTS passkeys_by_user ON passkeys(user_id);
CREATE INDEX IF NOT EXISTS credit_entries_by_user ON credit_entries(user_id, created_at);
`;
/** Sign-ins in progress at once, across all browsers, and for one browser (its newest ones are kept). */
export const MAX_LIVE_CHALLENGES = 10_000;
const MAX_CHALLENGES_PER_BROWSER = 5;

/** Columns added after the first release: a database made before them gets them on open. */
const ADDED_COLUMNS: Array<{ table: string; column: string; type: string }> = [
  { table: 'api_keys', column: 'daily_cap', type: 'INTEGER' },
  { table: 'jobs', column: 'api_key_id', type: 'TEXT' },
];
const INDEXES_ON_ADDED_COLUMNS = 'CREATE INDEX IF NOT EXISTS jobs_by_api_key ON jobs(api_key_id, created_at);';

/** The start of the UTC day that `ms` falls in: daily caps count from there. */
export function utcDayStart(ms: number): number {
  return Math.floor(ms / 86_400_000) * 86_400_000;
}

interface UserRow { id: number; email: string; password_hash: string; credits: number; created_at: number }
interface PasskeyRow {
  id: string; user_id: number; user_handle: string; public_key: Buffer; counter: number; transports: string; backed_up: number; created_at: number; last_used_at: number | null;
}
interface ApiKeyRow { id: string; user_id: number; name: string; prefix: string; created_at: number; last_used_at: number | null; revoked_at: number | null; daily_cap: number | null }
interface JobRow {
  id: string; user_id: number; module: string; inputs: string; credits: number; refunded: number; status: StudioJobStatus; via: 'web' | 'api';
  events: string; deal_id: string | null; cid: string | null; dir: string | null; stdout: string | null; exit_code: number | null;
  error: string | null; lp_paid: string | null; created_at: number; updated_at: number; api_key_id: string | null;
}

const toUser = (row: UserRow): User => ({ id: row.id, email: row.email, passwordHash: row.password_hash, credits: row.credits, createdAt: row.created_at });
const toPasskey = (row: PasskeyRow): Passkey => ({
  id: row.id, userId: row.user_id, userHandle: row.user_handle, publicKey: new Uint8Array(row.public_key), counter: row.counter,
  transports: JSON.parse(row.transports), backedUp: row.backed_up === 1, createdAt: row.created_at,
  ...(row.last_used_at !== null ? { lastUsedAt: row.last_used_at } : {}),
});
const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id, userId: row.user_id, name: row.name, prefix: row.prefix, createdAt: row.created_at,
  ...(row.last_used_at !== null ? { lastUsedAt: row.last_used_at } : {}),
  ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
  ...(row.daily_cap !== null ? { dailyCap: row.daily_cap } : {}),
});
const toJob = (row: JobRow): StudioJob => ({
  id: row.id, userId: row.user_id, module: row.module, inputs: JSON.parse(row.inputs), credits: row.credits, refunded: row.refunded === 1,
  status: row.status, via: row.via, events: JSON.parse(row.events),
  ...(row.api_key_id !== null ? { apiKeyId: row.api_key_id } : {}),
  ...(row.deal_id !== null ? { dealId: row.deal_id } : {}),
  ...(row.cid !== null ? { cid: row.cid } : {}),
  ...(row.dir !== null ? { dir: row.dir } : {}),
  ...(row.stdout !== null ? { stdout: row.stdout } : {}),
  ...(row.exit_code !== null ? { exitCode: row.exit_code } : {}),
  ...(row.error !== null ? { error: row.error } : {}),
  ...(row.lp_paid !== null ? { lpPaid: row.lp_paid } : {}),
  createdAt: row.created_at, updatedAt: row.updated_at,
});

export function studioDbPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), STUDIO_DB_FILE);
}

export function openStudioStore(dataDir: string, now: () => number = Date.now) {
  mkdirSync(path.resolve(dataDir), { recursive: true });
  const db = new Database(studioDbPath(dataDir));
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  for (const { table, column, type } of ADDED_COLUMNS) {
    const columns = db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
  db.exec(INDEXES_ON_ADDED_COLUMNS);

  const addCreditEntry = db.prepare('INSERT INTO credit_entries (user_id, delta, reason, job_id, created_at) VALUES (?, ?, ?, ?, ?)');
  const changeCredits = db.prepare('UPDATE users SET credits = credits + ? WHERE id = ? AND credits + ? >= 0');

  /** Moves a user's balance and writes why, in one transaction; false when the balance would go below zero. */
  const moveCredits = db.transaction((userId: number, delta: number, reason: string, jobId: string | null): boolean => {
    if (changeCredits.run(delta, userId, delta).changes === 0) return false;
    addCreditEntry.run(userId, delta, reason, jobId, now());
    return true;
  });

  const userByEmail = (email: string): User | undefined => {
    const row = db.prepare('SELECT * FROM users WHERE email = ?').get(email.trim()) as UserRow | undefined;
    return row && toUser(row);
  };

  return {
    /** Runs `work` in one transaction (an account and its first passkey or identity are made together or not at all). */
    transaction<T>(work: () => T): T {
      return db.transaction(work)();
    },
    createUser(email: string, passwordHash: string, signupCredits: number, reason: string): User {
      const normalized = email.trim();
      const create = db.transaction(() => {
        if (userByEmail(normalized)) {
          throw new UserInputError(`an account for ${normalized} already exists: sign in instead`, { code: 'account-exists' });
        }
        const { lastInsertRowid } = db.prepare('INSERT INTO users (email, password_hash, credits, created_at) VALUES (?, ?, 0, ?)').run(normalized, passwordHash, now());
        const id = Number(lastInsertRowid);
        if (signupCredits > 0) moveCredits(id, signupCredits, reason, null);
        return id;
      });
      return this.user(create())!;
    },
    user(id: number): User | undefined {
      const row = db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
      return row && toUser(row);
    },
    userByEmail,

    addSession(tokenHash: string, userId: number, csrfToken: string, lifetimeMs: number): void {
      const at = now();
      db.prepare('INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(tokenHash, userId, csrfToken, at, at + lifetimeMs);
    },
    session(tokenHash: string): Session | undefined {
      const row = db.prepare('SELECT user_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?').get(tokenHash) as
        | { user_id: number; csrf_token: string; expires_at: number }
        | undefined;
      if (!row) return undefined;
      if (row.expires_at <= now()) {
        db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
        return undefined;
      }
      return { userId: row.user_id, csrfToken: row.csrf_token, expiresAt: row.expires_at };
    },
    removeSession(tokenHash: string): void {
      db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
    },
    removeSessionsOf(userId: number): number {
      return db.prepare('DELETE FROM sessions WHERE user_id = ?').run(userId).changes;
    },

    addPasskey(passkey: Omit<Passkey, 'createdAt' | 'lastUsedAt'>): void {
      db.prepare('INSERT INTO passkeys (id, user_id, user_handle, public_key, counter, transports, backed_up, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        passkey.id, passkey.userId, passkey.userHandle, Buffer.from(passkey.publicKey), passkey.counter, JSON.stringify(passkey.transports), passkey.backedUp ? 1 : 0, now(),
      );
    },
    passkey(id: string): Passkey | undefined {
      const row = db.prepare('SELECT * FROM passkeys WHERE id = ?').get(id) as PasskeyRow | undefined;
      return row && toPasskey(row);
    },
    passkeysOf(userId: number): Passkey[] {
      return (db.prepare('SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, id').all(userId) as PasskeyRow[]).map(toPasskey);
    },
    /**
     * Records a sign-in with a passkey: its counter moves from `from` to `to`, compare-and-set, so that of two
     * uses of one signature at once only one counts; false when the counter was no longer `from`.
     */
    usePasskey(id: string, from: number, to: number): boolean {
      return db.prepare('UPDATE passkeys SET counter = ?, last_used_at = ? WHERE id = ? AND counter = ?').run(to, now(), id, from).changes === 1;
    },
    removePasskey(userId: number, id: string): boolean {
      return db.prepare('DELETE FROM passkeys WHERE id = ? AND user_id = ?').run(id, userId).changes === 1;
    },

    linkOidcIdentity(issuer: string, subject: string, userId: number): void {
      db.prepare('INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)').run(issuer, subject, userId, now());
    },
    /** The account linked to this provider's user, if any. */
    oidcUser(issuer: string, subject: string): User | undefined {
      const row = db.prepare('SELECT user_id FROM oidc_identities WHERE issuer = ? AND subject = ?').get(issuer, subject) as { user_id: number } | undefined;
      return row && this.user(row.user_id);
    },
    oidcIssuersOf(userId: number): string[] {
      return (db.prepare('SELECT issuer FROM oidc_identities WHERE user_id = ? ORDER BY created_at').all(userId) as Array<{ issuer: string }>).map((r) => r.issuer);
    },

    /**
     * Keeps a challenge until it is taken or `ttlMs` passes; expired ones are cleared out on the way, and a
     * browser keeps only its newest few. False, keeping nothing, when more sign-ins are in progress than the
     * studio holds (a flood of sign-in starts cannot grow the table without bound).
     */
    addChallenge(id: string, challenge: { kind: string; binding: string; data: Record<string, string> }, ttlMs: number): boolean {
      const at = now();
      return db.transaction(() => {
        db.prepare('DELETE FROM auth_challenges WHERE expires_at <= ?').run(at);
        if ((db.prepare('SELECT COUNT(*) AS n FROM auth_challenges').get() as { n: number }).n >= MAX_LIVE_CHALLENGES) return false;
        db.prepare('INSERT INTO auth_challenges (id, kind, binding, data, expires_at) VALUES (?, ?, ?, ?, ?)').run(id, challenge.kind, challenge.binding, JSON.stringify(challenge.data), at + ttlMs);
        db.prepare('DELETE FROM auth_challenges WHERE binding = ? AND id NOT IN (SELECT id FROM auth_challenges WHERE binding = ? ORDER BY expires_at DESC, rowid DESC LIMIT ?)').run(
          challenge.binding, challenge.binding, MAX_CHALLENGES_PER_BROWSER,
        );
        return true;
      })();
    },
    /** Removes and returns a challenge: each is answered at most once, whatever the answer. */
    takeChallenge(id: string): AuthChallenge | undefined {
      const row = db.prepare('DELETE FROM auth_challenges WHERE id = ? RETURNING kind, binding, data, expires_at').get(id) as
        | { kind: string; binding: string; data: string; expires_at: number }
        | undefined;
      return row && { kind: row.kind, binding: row.binding, data: JSON.parse(row.data), expired: row.expires_at <= now() };
    },

    addApiKey(key: { id: string; userId: number; name: string; keyHash: string; prefix: string; dailyCap?: number }): ApiKey {
      db.prepare('INSERT INTO api_keys (id, user_id, name, key_hash, prefix, created_at, daily_cap) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        key.id, key.userId, key.name, key.keyHash, key.prefix, now(), key.dailyCap ?? null,
      );
      return this.apiKeysOf(key.userId).find((k) => k.id === key.id)!;
    },
    apiKeysOf(userId: number): ApiKey[] {
      return (db.prepare('SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id').all(userId) as ApiKeyRow[]).map(toApiKey);
    },
    /** The live key with this hash, marked as used now (to the minute: a busy key does not write on every request). */
    useApiKey(keyHash: string): ApiKey | undefined {
      const row = db.prepare('SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL').get(keyHash) as ApiKeyRow | undefined;
      if (!row) return undefined;
      const at = now();
      if (row.last_used_at === null || row.last_used_at <= at - 60_000) db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(at, row.id);
      return toApiKey(row);
    },
    /** Credits that jobs started with this key cost since the start of this UTC day (refunds not counted). */
    spentTodayWithKey(keyId: string): number {
      const row = db.prepare('SELECT COALESCE(SUM(credits), 0) AS spent FROM jobs WHERE api_key_id = ? AND refunded = 0 AND created_at >= ?').get(keyId, utcDayStart(now())) as { spent: number };
      return row.spent;
    },
    revokeApiKey(userId: number, id: string): boolean {
      return db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL').run(now(), id, userId).changes === 1;
    },

    grantCredits(userId: number, credits: number, reason: string): void {
      moveCredits(userId, credits, reason, null);
    },
    creditEntriesOf(userId: number, limit = 100): CreditEntry[] {
      const rows = db.prepare('SELECT delta, reason, job_id, created_at FROM credit_entries WHERE user_id = ? ORDER BY id DESC LIMIT ?').all(userId, limit) as Array<{
        delta: number; reason: string; job_id: string | null; created_at: number;
      }>;
      return rows.map((r) => ({ delta: r.delta, reason: r.reason, ...(r.job_id ? { jobId: r.job_id } : {}), createdAt: r.created_at }));
    },
    /** Total credits spent on jobs (reservations less refunds). */
    spentBy(userId: number): number {
      const row = db.prepare('SELECT COALESCE(-SUM(delta), 0) AS spent FROM credit_entries WHERE user_id = ? AND job_id IS NOT NULL').get(userId) as { spent: number };
      return row.spent;
    },

    /**
     * Records a job and reserves its credits, in one transaction; false (nothing written) when the balance is
     * short. A job started with an API key that has a daily cap is first checked against it in the same
     * transaction (so concurrent requests cannot overspend it): over the cap, it throws `daily-cap-reached`.
     */
    addJob(job: { id: string; userId: number; module: string; inputs: Record<string, string>; credits: number; via: 'web' | 'api'; apiKeyId?: string }): boolean {
      const reserve = db.transaction(() => {
        const at = now();
        if (job.apiKeyId !== undefined) {
          const key = db.prepare('SELECT daily_cap FROM api_keys WHERE id = ?').get(job.apiKeyId) as { daily_cap: number | null } | undefined;
          const spent = this.spentTodayWithKey(job.apiKeyId);
          if (key?.daily_cap != null && spent + job.credits > key.daily_cap) {
            throw new UserInputError(
              `this API key's daily cap is ${key.daily_cap} credits and it has spent ${spent} today (UTC); ${job.module} costs ${job.credits}: wait for 00:00 UTC, or use a key with a higher cap`,
              { code: 'daily-cap-reached', details: { cap: key.daily_cap, spentToday: spent, resetsAt: new Date(utcDayStart(at) + 86_400_000).toISOString() } },
            );
          }
        }
        db.prepare('INSERT INTO jobs (id, user_id, module, inputs, credits, status, via, created_at, updated_at, api_key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
          job.id, job.userId, job.module, JSON.stringify(job.inputs), job.credits, 'queued', job.via, at, at, job.apiKeyId ?? null,
        );
        if (moveCredits(job.userId, -job.credits, `job ${job.module}`, job.id)) return true;
        // Undo the insert: a job nobody can pay for is not recorded.
        throw new CreditsShort();
      });
      try {
        // IMMEDIATE: the write lock is taken before the cap and the balance are read, so that another
        // process on the same database (an operator's command) cannot slip a write in between.
        return reserve.immediate();
      } catch (error) {
        if (error instanceof CreditsShort) return false;
        throw error;
      }
    },
    setJobRunning(id: string): void {
      db.prepare("UPDATE jobs SET status = 'running', updated_at = ? WHERE id = ?").run(now(), id);
    },
    addJobEvent(id: string, event: Record<string, unknown>): void {
      db.prepare('UPDATE jobs SET events = json_insert(events, \'$[#]\', json(?)), updated_at = ? WHERE id = ?').run(JSON.stringify(event), now(), id);
    },
    finishJob(id: string, outcome: JobOutcome): void {
      db.transaction(() => {
        const job = this.job(id);
        if (!job || job.status === 'succeeded' || job.status === 'failed') return;
        db.prepare(
          'UPDATE jobs SET status = ?, refunded = ?, deal_id = ?, cid = ?, dir = ?, stdout = ?, exit_code = ?, error = ?, lp_paid = ?, updated_at = ? WHERE id = ?',
        ).run(
          outcome.status, outcome.refund ? 1 : 0, outcome.dealId ?? null, outcome.cid ?? null, outcome.dir ?? null, outcome.stdout ?? null,
          outcome.exitCode ?? null, outcome.error ?? null, outcome.lpPaid ?? null, now(), id,
        );
        if (outcome.refund) moveCredits(job.userId, job.credits, `refund: job ${job.module} failed before a deal`, id);
      })();
    },
    job(id: string): StudioJob | undefined {
      const row = db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
      return row && toJob(row);
    },
    jobsOf(userId: number, limit = 100): StudioJob[] {
      return (db.prepare('SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').all(userId, limit) as JobRow[]).map(toJob);
    },
    /** Records that `userId` uploaded `upload`; the same bytes uploaded again move to the top of their list, under the new name. */
    addUpload(userId: number, upload: Omit<Upload, 'createdAt'>): Upload {
      const createdAt = now();
      db.prepare('INSERT INTO uploads (cid, user_id, name, size, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, cid) DO UPDATE SET name = excluded.name, created_at = excluded.created_at')
        .run(upload.cid, userId, upload.name, upload.size, createdAt);
      return { ...upload, createdAt };
    },
    /** A person's uploads, newest first: only their own. */
    uploadsOf(userId: number, limit = 100): Upload[] {
      return (db.prepare('SELECT cid, name, size, created_at FROM uploads WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').all(userId, limit) as Array<{ cid: string; name: string; size: number; created_at: number }>)
        .map((row) => ({ cid: row.cid, name: row.name, size: row.size, createdAt: row.created_at }));
    },
    /** Jobs left queued or running by a studio that stopped: none of them is followed any more. */
    unfinishedJobs(): StudioJob[] {
      return (db.prepare("SELECT * FROM jobs WHERE status IN ('queued', 'running')").all() as JobRow[]).map(toJob);
    },
    close(): void {
      db.close();
    },
  };
}

/** Thrown inside addJob's transaction to roll it back. */
class CreditsShort extends Error {}
