/** Terminal output of `lilypad run`: the seed's progress lines, and the closing lines. */
import type { JobProgressEvent, JobResult } from '../job-creator/run-job.js';

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
    case 'results:downloaded':
      return undefined;
  }
}

export function completionLines(result: JobResult): string[] {
  const lines = [
    '🍂 Lilypad job completed, try 👇',
    `    open ${result.dir}`,
    `    cat ${result.dir}/stdout`,
    `    CID: ${result.cid}`,
  ];
  if (result.exitCode !== 0) lines.push(`⚠️  The job exited with code ${result.exitCode}; see ${result.dir}/stderr`);
  return lines;
}
