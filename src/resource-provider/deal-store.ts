/**
 * The resource provider's memory on disk (`dataDir/provider.db`, SQLite): every deal it took with how far
 * it got, the job creator's acceptance once it came, and the resource offers it signed. What happened on
 * chain is never taken from here — after a restart the provider reads each open deal's state from the
 * chain and carries on from there; this store says which deals are its own and what it already holds
 * (a result CID whose blocks are on disk, an acceptance that is worth a settlement).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Hex } from 'viem';
import { parseDeal, type Deal } from '../protocol/deals.js';
import { parseResourceOffer, toWire, type ResourceOffer } from '../protocol/offers.js';

/**
 * How far the provider got with a deal. `taken`: matched, not agreed by this provider yet (it waits for the
 * job creator's acceptance of the match); `agreed`; `ran`:
 * the result folder is in the blockstore as `resultCid`; `submitted`: the CID is on chain and the deal
 * waits for payment; `done`: the deal ended on chain; `failed`: never agreed (a check failed, the offer
 * expired), nothing locked.
 */
export type DealStage = 'taken' | 'agreed' | 'ran' | 'submitted' | 'done' | 'failed';

export interface StoredDeal {
  deal: Deal;
  stage: DealStage;
  resultCid?: string;
  /** The job creator's acceptance of the match, needed to agree the deal. */
  matchAcceptance?: Hex;
  /** The job creator's acceptance of the results, worth a settlement. */
  acceptance?: Hex;
  error?: string;
  updatedAt: number;
  /** When the deal reached `done` or `failed` (ms): the start of the time its result is kept. */
  endedAt?: number;
  /** The roots of the job's inputs by CID, recorded before they are fetched. */
  inputCids: string[];
}

export interface StoredOffer {
  id: Hex;
  offer: ResourceOffer;
  /** Deals this provider has received for the offer. */
  uses: number;
}

export interface DealStore {
  /** Records a new deal as `taken`; false when it is known already. */
  add(deal: Deal): boolean;
  get(dealId: Hex): StoredDeal | undefined;
  setStage(dealId: Hex, stage: DealStage, extra?: { resultCid?: string; error?: string }): void;
  setAcceptance(dealId: Hex, acceptance: Hex): void;
  setMatchAcceptance(dealId: Hex, matchAcceptance: Hex): void;
  /** Records the roots of the job's inputs, before they are fetched, so that a sweep keeps them. */
  setInputs(dealId: Hex, inputCids: string[]): void;
  /**
   * The roots whose blocks the provider keeps: the result and inputs of every deal that has not ended (a
   * mediator may still need them), and the result of every deal that ended at or after `endedSince` (ms).
   */
  liveRoots(endedSince: number): string[];
  /** When the last deal with this result ended (ms); undefined when none did or one has not ended yet. */
  resultEndedAt(resultCid: string): number | undefined;
  /** Deals that have not ended: the ones to carry on with after a restart. */
  open(): StoredDeal[];
  /** How many deals are in each stage. */
  counts(): Record<DealStage, number>;
  saveOffer(id: Hex, offer: ResourceOffer): void;
  getOffer(id: Hex): StoredOffer | undefined;
  countOfferUse(id: Hex): StoredOffer | undefined;
  currentOffer(): StoredOffer | undefined;
  /** Small named values kept across restarts (the results server's port). */
  getSetting(name: string): string | undefined;
  setSetting(name: string, value: string): void;
  close(): void;
}

interface DealRow {
  deal: string;
  stage: DealStage;
  result_cid: string | null;
  match_acceptance: string | null;
  acceptance: string | null;
  error: string | null;
  updated_at: number;
  ended_at: number | null;
  input_cids: string | null;
}

export function openDealStore(file: string): DealStore {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  // WAL and synchronous=NORMAL: a committed row survives a kill -9 of this process (the OS has it), and
  // writes do not wait for the disk; a power cut may lose the last moments, which the chain then tells.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS deals (
      deal_id TEXT PRIMARY KEY,
      deal TEXT NOT NULL,
      stage TEXT NOT NULL,
      result_cid TEXT,
      match_acceptance TEXT,
      acceptance TEXT,
      error TEXT,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS deals_by_stage ON deals (stage);
    CREATE TABLE IF NOT EXISTS offers (
      id TEXT PRIMARY KEY,
      offer TEXT NOT NULL,
      uses INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  addRetentionColumns(db);
  const selectSetting = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE name = ?');
  const upsertSetting = db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
  const insertDeal = db.prepare('INSERT OR IGNORE INTO deals (deal_id, deal, stage, updated_at) VALUES (?, ?, ?, ?)');
  const selectDeal = db.prepare<[string], DealRow>('SELECT deal, stage, result_cid, match_acceptance, acceptance, error, updated_at, ended_at, input_cids FROM deals WHERE deal_id = ?');
  // The first time a deal ends is when its result's keeping time starts.
  const updateStage = db.prepare(
    `UPDATE deals SET stage = @stage, result_cid = COALESCE(@resultCid, result_cid), error = COALESCE(@error, error), updated_at = @now,
       ended_at = CASE WHEN @stage IN ('done', 'failed') THEN COALESCE(ended_at, @now) ELSE ended_at END
     WHERE deal_id = @dealId`,
  );
  const updateInputs = db.prepare('UPDATE deals SET input_cids = ? WHERE deal_id = ?');
  const selectLiveRoots = db.prepare<[number], { result_cid: string | null; input_cids: string | null; open: number }>(
    "SELECT result_cid, input_cids, stage NOT IN ('done', 'failed') AS open FROM deals WHERE stage NOT IN ('done', 'failed') OR ended_at >= ?",
  );
  const selectResultEnd = db.prepare<[string], { ended_at: number | null }>(
    // An open deal (no end yet) sorts first: its result is kept whatever older deals did.
    'SELECT ended_at FROM deals WHERE result_cid = ? ORDER BY ended_at IS NOT NULL, ended_at DESC LIMIT 1',
  );
  const updateAcceptance = db.prepare('UPDATE deals SET acceptance = ?, updated_at = ? WHERE deal_id = ?');
  const updateMatchAcceptance = db.prepare('UPDATE deals SET match_acceptance = ?, updated_at = ? WHERE deal_id = ? AND match_acceptance IS NULL');
  const selectOpen = db.prepare<[], DealRow>(
    "SELECT deal, stage, result_cid, match_acceptance, acceptance, error, updated_at, ended_at, input_cids FROM deals WHERE stage NOT IN ('done', 'failed') ORDER BY updated_at",
  );
  const selectCounts = db.prepare<[], { stage: DealStage; n: number }>('SELECT stage, COUNT(*) AS n FROM deals GROUP BY stage');
  const insertOffer = db.prepare('INSERT OR IGNORE INTO offers (id, offer, uses, created_at) VALUES (?, ?, 0, ?)');
  const bumpOffer = db.prepare('UPDATE offers SET uses = uses + 1 WHERE id = ?');
  const selectOffer = db.prepare<[string], { id: string; offer: string; uses: number }>('SELECT id, offer, uses FROM offers WHERE id = ?');
  const selectLatestOffer = db.prepare<[], { id: string; offer: string; uses: number }>(
    'SELECT id, offer, uses FROM offers ORDER BY created_at DESC, rowid DESC LIMIT 1',
  );

  // A row's deal and offer never change once written, and parsing one re-checks its hashes; what was
  // parsed is kept by its text, so that the many reads of a deal in flight parse it once.
  const parsed = new Map<string, Deal | ResourceOffer>();
  function parseOnce<T extends Deal | ResourceOffer>(text: string, parse: (value: unknown) => T): T {
    let value = parsed.get(text) as T | undefined;
    if (!value) {
      value = parse(JSON.parse(text));
      if (parsed.size >= 4096) parsed.clear();
      parsed.set(text, value);
    }
    return value;
  }
  const toStored = (row: DealRow): StoredDeal => ({
    deal: parseOnce(row.deal, parseDeal),
    stage: row.stage,
    resultCid: row.result_cid ?? undefined,
    matchAcceptance: (row.match_acceptance ?? undefined) as Hex | undefined,
    acceptance: (row.acceptance ?? undefined) as Hex | undefined,
    error: row.error ?? undefined,
    updatedAt: row.updated_at,
    endedAt: row.ended_at ?? undefined,
    inputCids: row.input_cids ? (JSON.parse(row.input_cids) as string[]) : [],
  });
  const toOffer = (row: { id: string; offer: string; uses: number } | undefined): StoredOffer | undefined =>
    row && { id: row.id as Hex, offer: parseOnce(row.offer, parseResourceOffer), uses: row.uses };

  return {
    add(deal) {
      return insertDeal.run(deal.dealId.toLowerCase(), JSON.stringify(toWire(deal)), 'taken', Date.now()).changes > 0;
    },
    get(dealId) {
      const row = selectDeal.get(dealId.toLowerCase());
      return row && toStored(row);
    },
    setStage(dealId, stage, extra) {
      updateStage.run({ stage, resultCid: extra?.resultCid ?? null, error: extra?.error ?? null, now: Date.now(), dealId: dealId.toLowerCase() });
    },
    setAcceptance(dealId, acceptance) {
      updateAcceptance.run(acceptance, Date.now(), dealId.toLowerCase());
    },
    setMatchAcceptance(dealId, matchAcceptance) {
      updateMatchAcceptance.run(matchAcceptance, Date.now(), dealId.toLowerCase());
    },
    setInputs(dealId, inputCids) {
      updateInputs.run(JSON.stringify(inputCids), dealId.toLowerCase());
    },
    liveRoots(endedSince) {
      const roots = new Set<string>();
      for (const row of selectLiveRoots.all(endedSince)) {
        if (row.result_cid) roots.add(row.result_cid);
        if (row.open && row.input_cids) for (const cid of JSON.parse(row.input_cids) as string[]) roots.add(cid);
      }
      return [...roots];
    },
    resultEndedAt(resultCid) {
      return selectResultEnd.get(resultCid)?.ended_at ?? undefined;
    },
    open: () => selectOpen.all().map(toStored),
    counts() {
      const counts: Record<DealStage, number> = { taken: 0, agreed: 0, ran: 0, submitted: 0, done: 0, failed: 0 };
      for (const { stage, n } of selectCounts.all()) counts[stage] = n;
      return counts;
    },
    saveOffer(id, offer) {
      insertOffer.run(id.toLowerCase(), JSON.stringify(toWire(offer)), Date.now());
    },
    getOffer: (id) => toOffer(selectOffer.get(id.toLowerCase())),
    countOfferUse(id) {
      bumpOffer.run(id.toLowerCase());
      return toOffer(selectOffer.get(id.toLowerCase()));
    },
    currentOffer: () => toOffer(selectLatestOffer.get()),
    getSetting: (name) => selectSetting.get(name)?.value,
    setSetting(name, value) {
      upsertSetting.run(name, value);
    },
    close() {
      if (db.open) db.close();
    },
  };
}

/**
 * The columns a sweep reads (see result-retention.ts); databases made before results were kept for a stated
 * time get them too. A deal that had ended then gets its last update as its end: the stage was the last
 * thing written to it.
 */
function addRetentionColumns(db: Database.Database): void {
  const columns = new Set((db.prepare('PRAGMA table_info(deals)').all() as { name: string }[]).map((column) => column.name));
  if (!columns.has('ended_at')) {
    db.transaction(() => {
      db.exec('ALTER TABLE deals ADD COLUMN ended_at INTEGER');
      db.exec('ALTER TABLE deals ADD COLUMN input_cids TEXT');
      db.exec("UPDATE deals SET ended_at = updated_at WHERE stage IN ('done', 'failed')");
    })();
  }
  db.exec('CREATE INDEX IF NOT EXISTS deals_by_result ON deals (result_cid)');
}
