/** Names of the on-chain DealState enum of contracts/LilypadDeals.sol; the list lives in src/protocol. */
import { dealStateFromChain, onChainDealStates, type OnChainDealState } from '../protocol/deal-states.js';

export const dealStateNames = onChainDealStates;
export type ChainDealState = OnChainDealState;
export const dealStateName: (index: number) => ChainDealState = dealStateFromChain;
