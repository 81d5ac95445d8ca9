/**
 * The job creator's record of its jobs (`~/.lilypad/jobs.db`, or `LILYPAD_JOBS_DB`; SQLite): each signed
 * job offer, written before it is sent, the network it was sent to, the deal once the solver tells of it,
 * how far this machine got, and where the chain last said the deal was. `lilypad jobs`, `lilypad job ID`
 * and `lilypad get ID` read it; the chain stays the authority on where a deal is, and they write down what
 * it says.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Hex } from 'viem';
import type { OnChainDealState } from '../protocol/deal-states.js';
import { parseDeal, type Deal } from '../protocol/deals.js';
import { parseJobOffer, toWire, type JobOffer } from '../protocol/offers.js';

/** This machine's view of a job: `posted`, `agreed`, `results` (on chain), `accepted`, `challenged`, `done` (folder written), `failed`. */
export type JobStage = 'posted' | 'agreed' | 'results' | 'accepted' | 'challenged' | 'done' | 'failed';

/** Where the job was posted: `lilypad get` and `lilypad job` follow it there, whatever the environment names now. */
export interface JobNetwork {
  chainId: number;
  dealsAddress: Hex;
  solverUrl: string;
}

export interface StoredJob {
  id: Hex;
  module: string;
  inputs: Record<string, string>;
  offer: JobOffer;
  network: JobNetwork;
  deal?: Deal;
  stage: JobStage;
  /** The deal's state when the chain was last read (`none`: not agreed yet); absent when never read. */
  chain?: OnChainDealState;
  cid?: string;
  dir?: string;
  error?: string;
  createdAt: number;
  updatedAt: number;
}

export interface JobStore {
  add(job: { id: Hex; module: string; inputs: Record<string, string>; offer: JobOffer; network: JobNetwork }): void;
  setDeal(id: Hex, deal: Deal): void;
  setStage(id: Hex, stage: JobStage, extra?: { cid?: string; dir?: string; error?: string }): void;
  /** Writes down the deal's state as just read from the chain. */
  setChainState(id: Hex, state: OnChainDealState): void;
  /** By full id or a unique prefix of it. */
  find(idOrPrefix: string): StoredJob | undefined;
  list(): StoredJob[];
  close(): void;
}

export function defaultJobsDbPath(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.LILYPAD_JOBS_DB || path.join(os.homedir(), '.lilypad', 'jobs.db'));
}

interface JobRow {
  id: string;
  module: string;
  inputs: string;
  offer: string;
  network: string;
  deal: string | null;
  stage: JobStage;
  chain: OnChainDealState | null;
  cid: string | null;
  dir: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export class AmbiguousJobIdError extends Error {}

export function openJobStore(file: string): JobStore {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      module TEXT NOT NULL,
      inputs TEXT NOT NULL,
      offer TEXT NOT NULL,
      network TEXT NOT NULL,
      deal TEXT,
      stage TEXT NOT NULL,
      cid TEXT,
      dir TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
  `);
  // Records made before the chain state was kept get the column; it stays empty until the chain is read.
  // Another lilypad opening the store at the same moment may add it first.
  if (!(db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).some((column) => column.name === 'chain')) {
    try {
      db.exec('ALTER TABLE jobs ADD COLUMN chain TEXT');
    } catch (error) {
      if (!/duplicate column/i.test((error as Error).message)) throw error;
    }
  }
  const insert = db.prepare(
    "INSERT OR IGNORE INTO jobs (id, module, inputs, offer, network, stage, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'posted', ?, ?)",
  );
  const updateDeal = db.prepare('UPDATE jobs SET deal = ?, updated_at = ? WHERE id = ?');
  const updateStage = db.prepare(
    'UPDATE jobs SET stage = ?, cid = COALESCE(?, cid), dir = COALESCE(?, dir), error = ?, updated_at = ? WHERE id = ?',
  );
  const updateChain = db.prepare('UPDATE jobs SET chain = ?, updated_at = ? WHERE id = ?');
  const byPrefix = db.prepare<[string], JobRow>("SELECT * FROM jobs WHERE id LIKE ? || '%' ESCAPE '\\' LIMIT 2");
  const all = db.prepare<[], JobRow>('SELECT * FROM jobs ORDER BY created_at, id');

  const toJob = (row: JobRow): StoredJob => ({
    id: row.id as Hex,
    module: row.module,
    inputs: JSON.parse(row.inputs),
    offer: parseJobOffer(JSON.parse(row.offer)),
    network: JSON.parse(row.network),
    deal: row.deal ? parseDeal(JSON.parse(row.deal)) : undefined,
    stage: row.stage,
    chain: row.chain ?? undefined,
    cid: row.cid ?? undefined,
    dir: row.dir ?? undefined,
    error: row.error ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });

  return {
    add(job) {
      const now = Date.now();
      insert.run(job.id.toLowerCase(), job.module, JSON.stringify(job.inputs), JSON.stringify(toWire(job.offer)), JSON.stringify(job.network), now, now);
    },
    setDeal(id, deal) {
      updateDeal.run(JSON.stringify(toWire(deal)), Date.now(), id.toLowerCase());
    },
    setStage(id, stage, extra) {
      updateStage.run(stage, extra?.cid ?? null, extra?.dir ?? null, extra?.error ?? null, Date.now(), id.toLowerCase());
    },
    setChainState(id, state) {
      updateChain.run(state, Date.now(), id.toLowerCase());
    },
    find(idOrPrefix) {
      const prefix = idOrPrefix.toLowerCase();
      if (!/^(0x)?[0-9a-f]{1,64}$/.test(prefix)) return undefined;
      const rows = byPrefix.all(prefix.startsWith('0x') ? prefix : `0x${prefix}`);
      if (rows.length > 1) throw new AmbiguousJobIdError(`job id ${idOrPrefix} is the start of more than one job; give more of it`);
      return rows[0] && toJob(rows[0]);
    },
    list: () => all.all().map(toJob),
    close() {
      if (db.open) db.close();
    },
  };
}
