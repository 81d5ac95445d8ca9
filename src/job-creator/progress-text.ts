/** Terminal output of `lilypad run`: the seed's progress lines, and the closing lines. */
import { formatEther } from 'viem';
import type { JobProgressEvent, JobResult } from './run-job.js';
import type { CheckProgressEvent } from './verify.js';

export function progressLine(event: JobProgressEvent): string | undefined {
  switch (event.type) {
    case 'job:submitting':
      return '🌟 Lilypad submitting job';
    case 'job:submitted':
      return '🤝 Job submitted. Negotiating deal...';
    case 'job:unmatched':
      return `⏳ Waiting for a resource provider: ${event.reason}`;
    case 'deal:agreed':
      return '💌 Deal agreed. Running job...';
    case 'results:submitted':
      return '🏭 Results submitted. Awaiting verification...';
    case 'results:accepted':
      return '✅ Results accepted. Downloading result...';
    case 'results:challenged':
      return `⚖️  Results challenged. Mediator ${event.mediator} is re-running the job...`;
    case 'mediation:ruled':
      return event.state === 'mediation-rejected'
        ? '🚨 Mediator ruled the results wrong: the provider\'s collateral and your payment are yours'
        : event.state === 'mediation-accepted'
          ? '🧑‍⚖️ Mediator ruled the results right: the provider is paid and you paid the mediation fee'
          : `⌛ Mediation ended without a ruling (${event.state}): payment and fee came back to you`;
    case 'results:downloaded':
      return undefined;
    // The job's own output, not progress: `lilypad run --live` prints it apart, the web page beside the lines.
    case 'job:output':
      return undefined;
  }
}

/** Lines for the checks of `--verify` and `--audit`. */
export function checkLine(event: CheckProgressEvent): string {
  switch (event.type) {
    case 'audit:decided': {
      const share = `${Math.round(event.rate * 100)}%`;
      const guarantee =
        event.cheaterExpectedLoss > 0n
          ? `a provider that cheats loses ${formatEther(event.cheaterExpectedLoss)} LP per job in expectation`
          : 'too few to make cheating lose money';
      return `🎲 Auditing ${share} of jobs: ${guarantee}; this job ${event.audited ? 'is audited' : 'is not audited'}`;
    }
    case 'verify:rerun':
      return event.matches
        ? `🔁 Re-ran the job here: same result ${event.rerunCid}`
        : `🔁 Re-ran the job here: got ${event.rerunCid}, the provider submitted ${event.submittedCid} (kept in ${event.dir})`;
    case 'verify:cannot-rerun':
      return `🔁 Cannot re-run the job here (${event.reason}); the mediator will`;
  }
}

export function completionLines(result: JobResult): string[] {
  if (result.state === 'mediation-rejected' || result.state === 'mediation-accepted' || result.state === 'mediation-timed-out') {
    return [
      `⚖️  Lilypad job ended in mediation (${result.state}); the provider's result is in 👇`,
      `    open ${result.dir}`,
      `    CID: ${result.cid}`,
    ];
  }
  if (result.error) {
    return [`❌ Lilypad job failed: ${result.error}`, `    open ${result.dir}`, `    CID: ${result.cid}`];
  }
  const lines = [
    '🍂 Lilypad job completed, try 👇',
    `    open ${result.dir}`,
    `    cat ${result.dir}/stdout`,
    `    CID: ${result.cid}`,
  ];
  if (result.exitCode !== 0) lines.push(`⚠️  The job exited with code ${result.exitCode}; see ${result.dir}/stderr`);
  return lines;
}
