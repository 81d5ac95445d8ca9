/**
 * Chain access for Lilypad: the contracts' ABIs and bytecode, deployment, a faucet, one viem action per
 * contract call, and a launcher for a local anvil node.
 */
export {
  exampleClientAbi,
  exampleClientBytecode,
  lilypadDealsAbi,
  lilypadDealsBytecode,
  lilypadOnChainJobCreatorAbi,
  lilypadOnChainJobCreatorBytecode,
  lilypadRegistryAbi,
  lilypadRegistryBytecode,
  lilypadTokenAbi,
  lilypadTokenBytecode,
} from './generated/contracts.js';
export { ANVIL_DEV_PRIVATE_KEYS, anvilBinaryPath, startAnvil } from './anvil.js';
export type { AnvilInstance, StartAnvilOptions } from './anvil.js';
export {
  chainFromId,
  connectChain,
  createLilypadPublicClient,
  createLilypadWalletClient,
  fetchChainId,
  redactRpcUrl,
  setRpcDefaults,
} from './clients.js';
export type {
  ChainClients,
  ClientOptions,
  ConnectChainOptions,
  LilypadPublicClient,
  LilypadWalletClient,
  RpcSettings,
  WalletClientOptions,
} from './clients.js';
export { dealStateName, dealStateNames } from './deal-state.js';
export type { ChainDealState } from './deal-state.js';
export { deployContracts, deployOnChainJobCreator } from './deploy.js';
export type { DeployedContracts, DeployOnChainJobCreatorParameters } from './deploy.js';
export { toChainError } from './errors.js';
export { fund } from './faucet.js';
export type { FundParameters, FundReturnType } from './faucet.js';
export { acceptResults } from './actions/accept-results.js';
export type { AcceptResultsParameters, AcceptResultsReturnType } from './actions/accept-results.js';
export { agreeDeal } from './actions/agree-deal.js';
export type { AgreeDealParameters, AgreeDealReturnType } from './actions/agree-deal.js';
export { challengeResults } from './actions/challenge-results.js';
export type { ChallengeResultsParameters, ChallengeResultsReturnType } from './actions/challenge-results.js';
export type { DealWriteReturnType } from './actions/deal-write.js';
export { depositWithPermit, signEscrowPermit } from './actions/deposit-with-permit.js';
export type { DepositWithPermitParameters, EscrowPermit, SignEscrowPermitParameters } from './actions/deposit-with-permit.js';
export { listServices } from './actions/list-services.js';
export type { ListServicesParameters, RegisteredService } from './actions/list-services.js';
export { mediate } from './actions/mediate.js';
export type { MediateParameters, MediateReturnType } from './actions/mediate.js';
export { registerService, serviceKinds, unregisterService } from './actions/register-service.js';
export type { RegisterServiceParameters, ServiceKind } from './actions/register-service.js';
export { settleResults } from './actions/settle-results.js';
export type { SettleResultsParameters, SettleResultsReturnType } from './actions/settle-results.js';
export { signResultsAcceptance } from './actions/sign-results-acceptance.js';
export type { SignResultsAcceptanceParameters } from './actions/sign-results-acceptance.js';
export { timeoutMediation } from './actions/timeout-mediation.js';
export type { TimeoutMediationParameters, TimeoutMediationReturnType } from './actions/timeout-mediation.js';
export { timeoutSubmitResults } from './actions/timeout-submit-results.js';
export type { TimeoutSubmitResultsParameters, TimeoutSubmitResultsReturnType } from './actions/timeout-submit-results.js';
export { deposit } from './actions/deposit.js';
export type { DepositParameters, DepositReturnType } from './actions/deposit.js';
export { checkDealsContract } from './actions/check-deals-contract.js';
export type { CheckDealsContractParameters } from './actions/check-deals-contract.js';
export { escrowBalance } from './actions/escrow-balance.js';
export type { EscrowBalanceParameters, EscrowBalanceReturnType } from './actions/escrow-balance.js';
export { getDeal } from './actions/get-deal.js';
export type { ChainDeal, GetDealParameters } from './actions/get-deal.js';
export { getDealEvents } from './actions/get-deal-events.js';
export type { DealAgreedEvent, DealEventLog, DealMovedEvent, GetDealEventsParameters } from './actions/get-deal-events.js';
export { getDealState } from './actions/get-deal-state.js';
export type { GetDealStateParameters } from './actions/get-deal-state.js';
export { submitResults } from './actions/submit-results.js';
export type { SubmitResultsParameters, SubmitResultsReturnType } from './actions/submit-results.js';
export { withdraw } from './actions/withdraw.js';
export type { WithdrawParameters, WithdrawReturnType } from './actions/withdraw.js';
export { deliverJobResults } from './actions/deliver-job-results.js';
export type { DeliverJobResultsParameters, DeliverJobResultsReturnType } from './actions/deliver-job-results.js';
export { challengeJobResults } from './actions/challenge-job-results.js';
export type { ChallengeJobResultsParameters } from './actions/challenge-job-results.js';
export { bindJobOffer } from './actions/bind-job-offer.js';
export type { BindJobOfferParameters, BindJobOfferReturnType } from './actions/bind-job-offer.js';
export { refundJob } from './actions/refund-job.js';
export type { RefundJobParameters, RefundJobReturnType } from './actions/refund-job.js';
