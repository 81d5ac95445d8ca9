/**
 * The job offer: the module resolved and rendered here first (so that a bad module, or an input that is
 * missing or not what the module declares, fails before anything is signed), its terms signed as EIP-712, and the job creator's half of the
 * mediator draw, which the offer commits to by its hash.
 */
import { keccak256, type Hex } from 'viem';
import type { ChainClients } from '../chain/index.js';
import { secondsFromNow } from '../lib/clock.js';
import { renderJob } from '../module/render.js';
import { engineOf, machineOf } from '../module/spec.js';
import { offerDomain, offerTypes, type SignedJobOfferTerms } from '../protocol/eip712.js';
import { inputsHashOf, moduleIdOf } from '../protocol/ids.js';
import { defaultDealTimeouts, mediatorSeedHashOf } from '../protocol/mediation.js';
import { jobOfferDetailsHashOf, jobOfferId, randomNonce, type JobOffer } from '../protocol/offers.js';
import type { JobCreatorComponents, RunJobOptions } from './types.js';

/** How long an offer waits for a match unless told otherwise (`offerTtlSeconds`). */
const DEFAULT_OFFER_TTL_SECONDS = 600;

/**
 * The job creator's half of the mediator draw: secret until a challenge, and derivable again from its key
 * and the offer's nonce (signatures are deterministic), so that nothing needs storing to challenge later.
 */
export async function mediatorSeedOf(chain: ChainClients, nonce: bigint): Promise<Hex> {
  return keccak256(await chain.walletClient.signMessage({ message: `lilypad mediator seed ${nonce}` }));
}

/** Resolves and renders the module and signs the offer. */
export async function signJobOffer(options: RunJobOptions, components: Pick<JobCreatorComponents, 'chain' | 'domain' | 'modules' | 'ipfs'>): Promise<{ offer: JobOffer; id: Hex; mediatorSeed: Hex }> {
  const account = options.jobCreator ?? components.chain.walletClient.account.address;

  const module = await components.modules.resolve(options.module);
  // The inputs as the module declares them (a bad one stops here, before anything is signed), canonical: what the offer carries.
  const { spec, inputs } = renderJob(module, options.inputs);
  // Where the provider and the mediator fetch the inputs: this job creator's node, then the peers it was told to
  // use (the user's own IPFS node, say). Signed, so no one can redirect them.
  const ipfsPeers = components.ipfs ? [...components.ipfs.multiaddrs(), ...components.ipfs.configuredPeers()].slice(0, 8) : undefined;
  const details = { moduleName: options.module, machine: machineOf(spec), engine: engineOf(spec), ...(ipfsPeers?.length ? { ipfsPeers } : {}) };

  const nonce = randomNonce();
  const mediatorSeed = await mediatorSeedOf(components.chain, nonce);
  const terms: SignedJobOfferTerms = {
    jobCreator: account,
    moduleId: moduleIdOf(module.ref),
    inputsHash: inputsHashOf(inputs),
    detailsHash: jobOfferDetailsHashOf(details),
    maxPrice: options.maxPrice,
    minCollateral: options.minCollateral ?? 0n,
    mediators: options.mediators,
    mediatorSeedHash: mediatorSeedHashOf(mediatorSeed),
    mediationFee: options.mediationFee ?? 10n ** 17n,
    submitTimeout: options.submitTimeout ?? defaultDealTimeouts.submitTimeout,
    judgeWindow: options.judgeWindow ?? defaultDealTimeouts.judgeWindow,
    mediationTimeout: options.mediationTimeout ?? defaultDealTimeouts.mediationTimeout,
    nonce,
    expiry: secondsFromNow(options.offerTtlSeconds ?? DEFAULT_OFFER_TTL_SECONDS),
  };
  const signature = await components.chain.walletClient.signTypedData({
    domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
    types: offerTypes,
    primaryType: 'JobOffer',
    message: terms,
  });
  const offer: JobOffer = { terms, ...details, module: module.ref, inputs, signature };
  return { offer, id: jobOfferId(components.domain, terms), mediatorSeed };
}
