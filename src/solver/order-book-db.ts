/**
 * The solver book's SQLite tables and the statements on them, created (and brought up to date) when the book
 * opens. The book (order-book.ts) owns what the rows mean.
 */
import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resource_offers (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  offer TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  expiry INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  -- 1: withdrawn by its provider (for good); 2: by the solver, while its provider is away (restored when it is back).
  withdrawn INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_offers (
  id TEXT PRIMARY KEY,
  creator TEXT NOT NULL,
  offer TEXT NOT NULL,
  expiry INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'matched', 'expired')),
  reason TEXT
);
CREATE INDEX IF NOT EXISTS job_offers_pending ON job_offers (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS deals (
  id TEXT PRIMARY KEY,
  resource_offer_id TEXT NOT NULL REFERENCES resource_offers (id),
  provider TEXT NOT NULL,
  state TEXT NOT NULL,
  result_cid TEXT,
  match_acceptance TEXT,
  final INTEGER NOT NULL DEFAULT 0,
  matched_at INTEGER,
  accepted_at INTEGER
);
CREATE INDEX IF NOT EXISTS deals_open ON deals (final, provider);
CREATE TABLE IF NOT EXISTS request_nonces (
  party TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expiry INTEGER NOT NULL,
  PRIMARY KEY (party, nonce)
) WITHOUT ROWID;
`;

/** Opens (or creates) the book's database at `path`; `:memory:` keeps it in memory only. */
export function openBookDatabase(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  // Books made before deals kept their match time and acceptance: their matched deals start the clock now.
  const columns = new Set((db.pragma('table_info(deals)') as { name: string }[]).map((column) => column.name));
  for (const [column, type] of [['matched_at', 'INTEGER'], ['match_acceptance', 'TEXT'], ['accepted_at', 'INTEGER']]) {
    if (!columns.has(column!)) db.exec(`ALTER TABLE deals ADD COLUMN ${column} ${type}`);
  }
  db.prepare('UPDATE deals SET matched_at = ? WHERE matched_at IS NULL').run(Date.now());
  const statements = {
    insertResourceOffer: db.prepare('INSERT INTO resource_offers (id, provider, offer, used, expiry, received_at) VALUES (?, ?, ?, 0, ?, ?)'),
    getResourceOffer: db.prepare('SELECT * FROM resource_offers WHERE id = ?'),
    useResourceOffer: db.prepare('UPDATE resource_offers SET used = used + 1 WHERE id = ?'),
    withdrawResourceOffer: db.prepare('UPDATE resource_offers SET withdrawn = 1 WHERE id = ?'),
    setAway: db.prepare('UPDATE resource_offers SET withdrawn = ? WHERE id = ?'),
    awayOffersOf: db.prepare('SELECT id, offer, used, received_at FROM resource_offers WHERE provider = ? AND withdrawn = 2 AND expiry > ?'),
    insertJobOffer: db.prepare('INSERT INTO job_offers (id, creator, offer, expiry, received_at, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    getJobOffer: db.prepare('SELECT * FROM job_offers WHERE id = ?'),
    setJobOfferStatus: db.prepare('UPDATE job_offers SET status = ?, reason = ? WHERE id = ?'),
    insertDeal: db.prepare('INSERT INTO deals (id, resource_offer_id, provider, state, matched_at) VALUES (?, ?, ?, ?, ?)'),
    deleteMatchedDeal: db.prepare("DELETE FROM deals WHERE id = ? AND state = 'matched'"),
    matchedDeals: db.prepare("SELECT id, provider, matched_at, accepted_at FROM deals WHERE final = 0 AND state = 'matched'"),
    getDeal: db.prepare('SELECT * FROM deals WHERE id = ?'),
    advanceDeal: db.prepare('UPDATE deals SET state = ?, result_cid = coalesce(?, result_cid), final = ? WHERE id = ? AND state = ?'),
    acceptMatch: db.prepare("UPDATE deals SET match_acceptance = ?, accepted_at = ? WHERE id = ? AND state = 'matched' AND match_acceptance IS NULL"),
    openDeals: db.prepare('SELECT id FROM deals WHERE final = 0'),
    // Newest first by rowid (the order deals were made in), from before a cursor: the public listing.
    recentDeals: db.prepare('SELECT rowid AS position, id, matched_at FROM deals WHERE rowid < ? ORDER BY rowid DESC LIMIT ?'),
    matchedDealsOf: db.prepare("SELECT id FROM deals WHERE final = 0 AND provider = ? AND state = 'matched'"),
    insertNonce: db.prepare('INSERT OR IGNORE INTO request_nonces (party, nonce, expiry) VALUES (?, ?, ?)'),
    pruneNonces: db.prepare('DELETE FROM request_nonces WHERE expiry <= ?'),
  };
  return { db, statements };
}

export type BookStatements = ReturnType<typeof openBookDatabase>['statements'];
