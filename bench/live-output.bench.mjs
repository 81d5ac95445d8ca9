// A job's live output against its result: `llm:v1` with MaxTokens=128 on the embedded network, through the
// job network that `lilypad run` and the studio use, timing each run from the request to the deal agreed, to
// the first `job:output` event (the first token the user sees), to the results on chain and to the checked
// result. Needs `npm run build` and models/llm/model.safetensors.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, writeResults } from './lib.mjs';

const { openJobNetwork } = await import('../dist/job-creator/job-network.js');
const { closeBlockstore, openBlockstore } = await import('../dist/storage/index.js');

const runs = Number(process.env.BENCH_RUNS ?? 3);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-live-'));
const blockstore = await openBlockstore(path.join(scratch, 'blocks'));
const controller = new AbortController();
// An empty environment: no chain configured, so the embedded network, and a job creator node on loopback.
const network = await openJobNetwork({ env: {}, resultsDir: path.join(scratch, 'results'), signal: controller.signal, blockstore });
const samples = [];
try {
  for (let i = 0; i < runs; i++) {
    const at = {};
    let outputs = 0;
    let streamed = '';
    const started = performance.now();
    const result = await network.run({
      module: 'llm:v1',
      inputs: { Prompt: 'Once upon a time', MaxTokens: '128', Seed: String(42 + i) },
      maxPrice: 10n ** 19n,
      onProgress: (event) => {
        if (event.type === 'job:output') {
          outputs++;
          streamed += event.text;
        }
        at[event.type] ??= performance.now() - started;
      },
    });
    samples.push({
      agreedMs: at['deal:agreed'],
      firstOutputMs: at['job:output'],
      resultsOnChainMs: at['results:submitted'],
      resultMs: performance.now() - started,
      outputEvents: outputs,
      previewMatchesResult: streamed === result.stdout,
    });
  }
} finally {
  await network.close();
  await closeBlockstore(blockstore);
  rmSync(scratch, { recursive: true, force: true });
}

const figure = (name) => Math.round(median(samples.map((sample) => sample[name])));
const figures = {
  runs,
  agreedMs: figure('agreedMs'),
  firstOutputMs: figure('firstOutputMs'),
  resultsOnChainMs: figure('resultsOnChainMs'),
  resultMs: figure('resultMs'),
  firstOutputAfterAgreedMs: Math.round(median(samples.map((s) => s.firstOutputMs - s.agreedMs))),
  resultAfterAgreedMs: Math.round(median(samples.map((s) => s.resultMs - s.agreedMs))),
  outputEvents: figure('outputEvents'),
  previewMatchedResult: samples.every((sample) => sample.previewMatchesResult),
  samples,
};
console.log(`live output, llm:v1 MaxTokens=128 on the embedded network, median of ${runs} (${os.cpus()[0]?.model ?? 'unknown CPU'})`);
console.log(`  from the request: deal agreed ${figures.agreedMs} ms, first job:output ${figures.firstOutputMs} ms, results on chain ${figures.resultsOnChainMs} ms, checked result ${figures.resultMs} ms`);
console.log(`  from the deal agreed (the job starting): first output after ${figures.firstOutputAfterAgreedMs} ms, the checked result after ${figures.resultAfterAgreedMs} ms`);
console.log(`  ${figures.outputEvents} job:output events per run; the preview matched the checked stdout in every run: ${figures.previewMatchedResult}`);
console.log('  written to', writeResults('live-output', figures));
