/**
 * The states of a deal and the one table of allowed transitions that every role uses. The on-chain
 * states mirror the `DealState` enum of contracts/LilypadDeals.sol (same order); `matched` is the
 * solver's state before the deal reaches the chain. The contract's NatSpec says who is paid on each path.
 */
export const onChainDealStates = [
  'none',
  'agreed',
  'results-submitted',
  'results-accepted',
  'results-checked',
  'mediation-accepted',
  'mediation-rejected',
  'submit-timed-out',
  'mediation-timed-out',
] as const;
export type OnChainDealState = (typeof onChainDealStates)[number];
export type DealState = 'matched' | Exclude<OnChainDealState, 'none'>;

/** Every allowed transition, and who may make it (as the contract enforces). */
export const dealTransitions: Record<DealState, ReadonlyArray<{ to: DealState; by: string }>> = {
  matched: [{ to: 'agreed', by: 'anyone holding both signed offers' }],
  agreed: [
    { to: 'results-submitted', by: 'the resource provider, before the submit deadline' },
    { to: 'submit-timed-out', by: 'anyone, after the submit deadline' },
  ],
  'results-submitted': [
    { to: 'results-accepted', by: 'the job creator, its signed acceptance, or anyone after the judge window' },
    { to: 'results-checked', by: 'the job creator, within the judge window' },
  ],
  'results-checked': [
    { to: 'mediation-accepted', by: 'the mediator, before the mediation deadline' },
    { to: 'mediation-rejected', by: 'the mediator, before the mediation deadline' },
    { to: 'mediation-timed-out', by: 'anyone, after the mediation deadline' },
  ],
  'results-accepted': [],
  'mediation-accepted': [],
  'mediation-rejected': [],
  'submit-timed-out': [],
  'mediation-timed-out': [],
};

export function canTransition(from: DealState, to: DealState): boolean {
  return dealTransitions[from].some((t) => t.to === to);
}

export function isFinal(state: DealState): boolean {
  return dealTransitions[state].length === 0;
}

/**
 * The states passed through from `from` to `to` (excluding `from`, including `to`), or undefined when
 * `to` cannot be reached. The table is a tree, so the path is unique.
 */
export function pathBetween(from: DealState, to: DealState): DealState[] | undefined {
  if (from === to) return [];
  for (const { to: next } of dealTransitions[from]) {
    const rest = pathBetween(next, to);
    if (rest) return [next, ...rest];
  }
  return undefined;
}

export function dealStateFromChain(index: number): OnChainDealState {
  const state = onChainDealStates[index];
  if (state === undefined) throw new Error(`unknown on-chain deal state ${index}`);
  return state;
}
