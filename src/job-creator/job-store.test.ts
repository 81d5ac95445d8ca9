import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openJobStore } from './job-store.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-job-store-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a store made before pipelines gets their table and keeps its jobs', () => {
  const file = path.join(dir, 'jobs.db');
  // The schema of a store from before pipeline steps were recorded.
  const old = new Database(file);
  old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, module TEXT NOT NULL, inputs TEXT NOT NULL, offer TEXT NOT NULL, network TEXT NOT NULL, deal TEXT,
    stage TEXT NOT NULL, cid TEXT, dir TEXT, error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, chain TEXT)`);
  old.close();

  const store = openJobStore(file);
  try {
    expect(store.list()).toEqual([]);
    const key = { pipeline: '/p.json', step: 'train', fingerprint: 'f1' };
    store.recordStep({ ...key, stage: 'running' });
    store.recordStep({ ...key, stage: 'running', jobId: '0xABC' });
    store.recordStep({ ...key, stage: 'done', cid: 'bafy-trained', dir: '/out/train/bafy-trained' });
    expect(store.findStep('/p.json', 'train', 'f1')).toMatchObject({ stage: 'done', runs: 1, jobId: '0xabc', cid: 'bafy-trained' });
    expect(store.findStep('/p.json', 'train', 'f2')).toBeUndefined();
    store.recordStep({ ...key, fingerprint: 'f2', stage: 'running' });
    // The latest record of each step is the one shown.
    expect(store.pipelineSteps('/p.json').map((record) => [record.step, record.fingerprint, record.stage])).toEqual([['train', 'f2', 'running']]);
  } finally {
    store.close();
  }
  // Opened again, nothing is migrated twice.
  openJobStore(file).close();
});
