// One side of the IPFS benchmark, run as its own process so that each node's memory is its own:
//   serve BLOCKSTORE_DIR                         an IPFS node and an HTTP gateway over one blockstore
//   fetch-ipfs PEER_MULTIADDR CID STORE_DIR OUT  fetch a DAG over libp2p, then export it to OUT
//   fetch-http GATEWAY_URL CID STORE_DIR OUT     the same over the trustless HTTP gateway
// A fetcher prints one JSON line of timings; the server prints its addresses and runs until stdin closes.
import { CID } from 'multiformats/cid';
import { closeBlockstore, openBlockstore } from '../dist/storage/blockstore.js';
import { exportDirectory } from '../dist/storage/export.js';
import { fetchDag } from '../dist/storage/fetch.js';
import { createIpfsNode } from '../dist/storage/ipfs-node.js';
import { startGateway } from '../dist/storage/serve.js';

const [mode, ...args] = process.argv.slice(2);
const write = (value) => process.stdout.write(JSON.stringify(value) + '\n');

if (mode === 'serve') {
  const blockstore = await openBlockstore(args[0]);
  const node = createIpfsNode({ blockstore });
  await node.start();
  const gateway = await startGateway({ blockstore });
  write({ multiaddr: node.multiaddrs()[0], gatewayUrl: gateway.url });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  await node.stop();
  await gateway.close();
  await closeBlockstore(blockstore);
} else if (mode === 'fetch-ipfs' || mode === 'fetch-http') {
  const [source, cidText, storeDir, outDir] = args;
  const cid = CID.parse(cidText);
  const blockstore = await openBlockstore(storeDir);
  const started = performance.now();
  let firstBlockMs;
  const onProgress = (event) => {
    if (event.type === 'block:verified' && firstBlockMs === undefined) firstBlockMs = performance.now() - started;
  };
  let node;
  let connectMs = 0;
  if (mode === 'fetch-ipfs') {
    node = createIpfsNode({ blockstore, peers: [source] });
    await node.start();
    connectMs = performance.now() - started;
  }
  const fetchStarted = performance.now();
  const result = node
    ? await node.fetchDag(cid, { onProgress })
    : await fetchDag(cid, { gatewayUrl: source, blockstore, onProgress });
  const fetchMs = performance.now() - fetchStarted;
  const exportStarted = performance.now();
  await exportDirectory(cid, blockstore, outDir);
  const exportMs = performance.now() - exportStarted;
  await node?.stop();
  await closeBlockstore(blockstore);
  write({
    connectMs,
    fetchMs,
    exportMs,
    totalMs: performance.now() - started,
    firstBlockMs,
    blocks: result.blocks,
    bytes: result.bytes,
    peakRssKiB: process.resourceUsage().maxRSS,
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
