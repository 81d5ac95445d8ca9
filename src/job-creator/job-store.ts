/**
 * The job creator's record of its jobs (`~/.lilypad/jobs.db`, or `LILYPAD_JOBS_DB`; SQLite): each signed
 * job offer, written before it is sent, the network it was sent to, the deal once the solver tells of it,
 * how far this machine got, and where the chain last said the deal was. `lilypad jobs`, `lilypad job ID`
 * and `lilypad get ID` read it; the chain stays the authority on where a deal is, and they write down what
 * it says. It also records the steps of pipelines (`pipeline.ts`), so that a pipeline run again resumes where
 * it stopped.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Hex } from 'viem';
import type { OnChainDealState } from '../protocol/deal-states.js';
import { parseDeal, type Deal } from '../protocol/deals.js';
import { parseJobOffer, toWire, type JobOffer } from '../protocol/offers.js';
import type { PipelineStepRecord, PipelineStepStore } from './pipeline.js';

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

export interface JobStore extends PipelineStepStore {
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

interface PipelineStepRow {
  pipeline: string;
  step: string;
  fingerprint: string;
  stage: PipelineStepRecord['stage'];
  runs: number;
  job_id: string | null;
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
  // Pipeline steps came later: CREATE IF NOT EXISTS gives stores made before them the table, and leaves `jobs` as it was.
  db.exec(`
    CREATE TABLE IF NOT EXISTS pipeline_steps (
      pipeline TEXT NOT NULL,
      step TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      stage TEXT NOT NULL,
      runs INTEGER NOT NULL DEFAULT 0,
      job_id TEXT,
      cid TEXT,
      dir TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (pipeline, step, fingerprint)
    );
  `);
  const upsertStep = db.prepare(`
    INSERT INTO pipeline_steps (pipeline, step, fingerprint, stage, runs, job_id, cid, dir, error, created_at, updated_at)
    VALUES (@pipeline, @step, @fingerprint, @stage, @started, @jobId, @cid, @dir, @error, @now, @now)
    ON CONFLICT (pipeline, step, fingerprint) DO UPDATE SET
      stage = excluded.stage,
      runs = runs + excluded.runs,
      job_id = COALESCE(excluded.job_id, job_id),
      cid = COALESCE(excluded.cid, cid),
      dir = COALESCE(excluded.dir, dir),
      error = excluded.error,
      updated_at = excluded.updated_at
  `);
  const stepByFingerprint = db.prepare<[string, string, string], PipelineStepRow>('SELECT * FROM pipeline_steps WHERE pipeline = ? AND step = ? AND fingerprint = ?');
  const stepsOf = db.prepare<[string], PipelineStepRow>('SELECT * FROM pipeline_steps WHERE pipeline = ? ORDER BY updated_at, rowid');
  const toStep = (row: PipelineStepRow): PipelineStepRecord => ({
    pipeline: row.pipeline,
    step: row.step,
    fingerprint: row.fingerprint,
    stage: row.stage,
    runs: row.runs,
    jobId: (row.job_id as Hex | null) ?? undefined,
    cid: row.cid ?? undefined,
    dir: row.dir ?? undefined,
    error: row.error ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });

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
    findStep(pipeline, step, fingerprint) {
      const row = stepByFingerprint.get(pipeline, step, fingerprint);
      return row && toStep(row);
    },
    recordStep(record) {
      upsertStep.run({
        pipeline: record.pipeline,
        step: record.step,
        fingerprint: record.fingerprint,
        stage: record.stage,
        // A `running` with a job id is the post of a run already counted.
        started: record.stage === 'running' && record.jobId === undefined ? 1 : 0,
        jobId: record.jobId?.toLowerCase() ?? null,
        cid: record.cid ?? null,
        dir: record.dir ?? null,
        error: record.error ?? null,
        now: Date.now(),
      });
    },
    pipelineSteps(pipeline) {
      // Rows come oldest first, so each step's last row is its latest.
      const latest = new Map<string, PipelineStepRow>();
      for (const row of stepsOf.all(pipeline)) latest.set(row.step, row);
      return [...latest.values()].map(toStep);
    },
    close() {
      if (db.open) db.close();
    },
  };
}
