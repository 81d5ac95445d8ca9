/**
 * Names of the on-chain DealState enum of contracts/LilypadDeals.sol, in the same order. They match
 * `onChainDealStates` in src/protocol/deal-states.ts.
 */
export const dealStateNames = ['none', 'agreed', 'results-submitted', 'results-accepted'] as const;
export type ChainDealState = (typeof dealStateNames)[number];

export function dealStateName(index: number): ChainDealState {
  const name = dealStateNames[index];
  if (name === undefined) throw new Error(`unknown on-chain deal state ${index}`);
  return name;
}
