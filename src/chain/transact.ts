/** Sends one transaction, waits for its receipt, and reports any failure as a ChainError. */
import type { Hash, TransactionReceipt } from 'viem';
import type { ChainClients } from './clients.js';
import { assertSucceeded, toChainError } from './errors.js';

// The send of the previous transaction of each wallet client. Sends wait their turn so that each takes
// its nonce from the node's pending count after the one before was accepted; a failed send (say a
// revert found by gas estimation) leaves no gap, as a local nonce counter would.
const lastSend = new WeakMap<object, Promise<unknown>>();

export async function transact(
  clients: ChainClients,
  action: string,
  send: () => Promise<Hash>,
): Promise<TransactionReceipt> {
  const previous = lastSend.get(clients.walletClient) ?? Promise.resolve();
  const sent = previous.catch(() => undefined).then(send);
  lastSend.set(clients.walletClient, sent.catch(() => undefined));
  let receipt: TransactionReceipt;
  try {
    const hash = await sent;
    receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  } catch (error) {
    throw toChainError(error, action);
  }
  assertSucceeded(receipt, action);
  return receipt;
}
