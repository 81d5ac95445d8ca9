// Monte Carlo of random audits: many jobs, a share of cheating providers, for several collateral
// multiples. Prints the audit rate, the share of cheats caught and each party's average profit per job
// (in units of the job price), at the computed rate and, for contrast, at half the break-even rate.
// Writes the figures to sim/results/audit.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { auditPolicy, shouldAudit } from '../dist/protocol/audit.js';

const JOBS = Number(process.env.SIM_JOBS ?? 100_000);
const CHEATER_SHARE = 0.3; // of jobs taken by providers that skip the work
const PRICE = 1; // everything below in units of the price
const WORK_COST = 0.4; // what doing the job costs an honest provider (and the mediator's re-run)
const FEE = 0.5; // mediation fee
const MULTIPLES = [1, 2, 3, 5, 10];

// A seeded generator so that every run prints the same figures.
let state = 0x2545f491;
const random = () => ((state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);

function simulate(k, rate) {
  const secret = randomBytes(32);
  const totals = { honest: 0, honestJobs: 0, cheater: 0, cheaterJobs: 0, jobCreator: 0, mediator: 0, cheats: 0, caught: 0, audits: 0 };
  for (let job = 0; job < JOBS; job++) {
    const cheats = random() < CHEATER_SHARE;
    const audited = shouldAudit(secret, `0x${job.toString(16).padStart(64, '0')}`, rate);
    if (audited) totals.audits++;
    if (!cheats) {
      totals.honestJobs++;
      totals.honest += PRICE - WORK_COST;
      totals.jobCreator -= PRICE + (audited ? FEE : 0);
      if (audited) totals.mediator += FEE - WORK_COST;
      continue;
    }
    totals.cheats++;
    totals.cheaterJobs++;
    if (!audited) {
      totals.cheater += PRICE; // paid for work it never did
      totals.jobCreator -= PRICE; // and the job creator holds a wrong result
      continue;
    }
    // Caught: the CIDs differ. The provider is not paid and loses its collateral; the mediator's fee
    // comes out of it, the rest goes to the job creator, whose payment is refunded.
    totals.caught++;
    totals.cheater -= k * PRICE;
    totals.mediator += FEE - WORK_COST;
    totals.jobCreator += k * PRICE - FEE;
  }
  return {
    collateralMultiple: k,
    auditRate: Number(rate.toFixed(4)),
    measuredAuditShare: Number((totals.audits / JOBS).toFixed(4)),
    cheatsCaughtShare: Number((totals.caught / Math.max(1, totals.cheats)).toFixed(4)),
    honestProviderProfitPerJob: Number((totals.honest / Math.max(1, totals.honestJobs)).toFixed(4)),
    cheatingProviderProfitPerJob: Number((totals.cheater / Math.max(1, totals.cheaterJobs)).toFixed(4)),
    jobCreatorProfitPerJob: Number((totals.jobCreator / JOBS).toFixed(4)),
    mediatorProfitPerJob: Number((totals.mediator / JOBS).toFixed(4)),
  };
}

const rows = [];
console.log(`random audits: ${JOBS} jobs per row, ${CHEATER_SHARE * 100}% by cheating providers; price 1, work cost ${WORK_COST}, mediation fee ${FEE}`);
console.log('   k  policy       rate   caught  honest RP  cheating RP  job creator  mediator');
for (const k of MULTIPLES) {
  const policy = auditPolicy({ price: 10n ** 18n, collateralMultiple: BigInt(k), mediationFee: 5n * 10n ** 17n });
  for (const [name, rate] of [['computed', policy.rate], ['half b-e', policy.breakEvenRate / 2]]) {
    const row = { policy: name, ...simulate(k, rate) };
    rows.push(row);
    console.log(
      `${String(k).padStart(4)}  ${name.padEnd(9)} ${row.auditRate.toFixed(3).padStart(7)} ${row.cheatsCaughtShare.toFixed(3).padStart(8)} ` +
        `${row.honestProviderProfitPerJob.toFixed(3).padStart(10)} ${row.cheatingProviderProfitPerJob.toFixed(3).padStart(12)} ` +
        `${row.jobCreatorProfitPerJob.toFixed(3).padStart(12)} ${row.mediatorProfitPerJob.toFixed(3).padStart(9)}`,
    );
  }
}
const atComputedRate = rows.filter((r) => r.policy === 'computed');
const cheatingLoses = atComputedRate.every((r) => r.cheatingProviderProfitPerJob < 0);
console.log(cheatingLoses ? 'at the computed rate cheating loses money for every k' : 'CHEATING PAYS at the computed rate for some k');
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/audit.json', import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), jobs: JOBS, cheaterShare: CHEATER_SHARE, workCost: WORK_COST, fee: FEE, rows, cheatingLoses }, null, 2) + '\n',
);
console.log('written to sim/results/audit.json');
if (!cheatingLoses) process.exitCode = 1;
