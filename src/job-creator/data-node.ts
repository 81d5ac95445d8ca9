/**
 * The job creator's own IPFS node: every command that runs or follows jobs starts one over the lasting
 * blockstore (`blocksDir`).
 */
import { z } from 'zod';
import { UserInputError } from '../lib/errors.js';
import { ipfsSettingOf, ipfsSettings } from '../lib/service-config.js';
import type { Blockstore } from '../storage/index.js';
import { createIpfsNode, loopbackOnly, type IpfsNode } from '../storage/ipfs-node.js';

/**
 * The job creator's IPFS node over its lasting blockstore, so that the network's providers and mediators
 * fetch the inputs it holds from it (its addresses go into each job offer). Where it listens and which peers
 * it always dials: LILYPAD_IPFS_LISTEN (default a port on 127.0.0.1; `off` gives none), LILYPAD_IPFS_PEERS.
 */
export async function startJobCreatorNode(env: NodeJS.ProcessEnv, blockstore: Blockstore): Promise<IpfsNode | undefined> {
  const parsed = z.object(ipfsSettings).safeParse(env);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    throw new UserInputError(`${issue!.path.join('.')} ${issue!.message}`, { code: 'config-invalid' });
  }
  const setting = ipfsSettingOf(parsed.data);
  if (setting === false) return undefined;
  const { listen, peers } = setting;
  const node = createIpfsNode({ blockstore, listen, peers, loopbackOnly: loopbackOnly(listen) });
  await node.start();
  return node;
}

