/**
 * The states of a deal and the one table of allowed transitions that every role uses. The on-chain
 * states mirror the `DealState` enum of contracts/LilypadDeals.sol (same order); `matched` is the
 * solver's state before the deal reaches the chain.
 */
export const onChainDealStates = ['none', 'agreed', 'results-submitted', 'results-accepted'] as const;
export type OnChainDealState = (typeof onChainDealStates)[number];
export type DealState = 'matched' | Exclude<OnChainDealState, 'none'>;

const transitions: Record<DealState, readonly DealState[]> = {
  matched: ['agreed'],
  agreed: ['results-submitted'],
  'results-submitted': ['results-accepted'],
  'results-accepted': [],
};

export function canTransition(from: DealState, to: DealState): boolean {
  return transitions[from].includes(to);
}

export function isFinal(state: DealState): boolean {
  return transitions[state].length === 0;
}

export function dealStateFromChain(index: number): OnChainDealState {
  const state = onChainDealStates[index];
  if (state === undefined) throw new Error(`unknown on-chain deal state ${index}`);
  return state;
}
