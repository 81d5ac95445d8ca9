// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {LilypadDeals} from "./LilypadDeals.sol";

/// @notice What a contract implements to receive the results of the jobs it asked for.
interface ILilypadJobResultsReceiver {
    /// @notice Called once per job with the result folder's IPFS CID.
    function receiveJobResults(uint256 jobId, string calldata cid) external;
}

/// @title Lilypad on-chain job creator
/// @notice Lets smart contracts run Lilypad jobs. A client contract asks for a job and pays, in LP
/// ({runJob}) or in the chain's coin ({runModuleWithDefaultMediators}); a bridge service watches
/// {JobAdded}, runs the job through the network and calls {deliverResults}, which calls the client's
/// `receiveJobResults(jobId, cid)`.
/// @dev This contract is itself the job creator of the deals it makes: LP payments are deposited into its
/// escrow in {LilypadDeals}, and the bridge's key (`operator`) signs job offers and result acceptances on its
/// behalf through ERC-1271 ({isValidSignature}). So the bridge never holds the clients' money, and a deal's
/// payment, refund or slashed collateral always lands with this contract.
///
/// Each job has at most one live deal: before it posts a job offer, the operator binds the offer's digest (the
/// deal's id) to the job ({bindJobOffer}), and this contract's signature of a bound offer is valid only while
/// it is the job's current offer and the job is still Requested. So {refund} always knows the job's deal: it
/// refuses while that deal is open or has paid its resource provider (the pool would pay twice), and a refund
/// voids the offer's signature, so an offer not yet agreed can never be agreed afterwards. The operator must
/// sign job offers only through {bindJobOffer}; its other signatures (results acceptances) stay valid.
///
/// Money the clients may get back is kept apart: `coinOwed` (coin of Requested jobs and unclaimed refunds)
/// and `lpOwed` (LP of Requested LP-paid jobs) cannot be taken by the owner ({withdrawCoin}, {withdrawLp}
/// take only the surplus above them). The pool's own costs (the LP deals of coin-paid jobs, mediation fees)
/// come out of the owner's funding ({fundEscrow}); keeping the escrow funded for them is the owner's job.
/// When the bridge's audit contradicts a result, the operator challenges it through this contract
/// ({challengeResults}; the mediation fee comes from this contract's escrow). The job then follows the
/// ruling: its results are delivered only if the mediator accepts them, and if the mediator rejects them (or
/// never rules) the client can be refunded at once, paid for by the slashed collateral that comes back to
/// this contract's escrow.
contract LilypadOnChainJobCreator is IERC1271, Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum JobState {
        None,
        Requested,
        Completed,
        Refunded
    }

    struct Job {
        address client;
        /// Unix seconds from which a job whose offer was never agreed may be refunded; fixed at request time.
        uint64 refundableAt;
        address payee;
        JobState state;
        uint64 requestedAt;
        /// LP (wei) for a job paid in LP, or 0.
        uint256 paidLp;
        /// Chain coin (wei) for a job paid in it, or 0.
        uint256 paidCoin;
        /// The job's current offer (its deal's id), as bound by {bindJobOffer}; 0 until then.
        bytes32 dealId;
        string module;
        string[] inputs;
    }

    /// @notice The deal contract whose deals this contract makes.
    LilypadDeals public immutable deals;
    /// @notice The LP token.
    IERC20 public immutable token;
    /// @notice The bridge's key: it signs offers and acceptances for this contract and delivers results.
    address public operator;
    /// @notice LP (wei) a job costs when paid in LP.
    uint256 public jobPriceLp;
    /// @notice Chain coin (wei) a job costs when paid in it.
    uint256 public jobPriceCoin;
    /// @notice Seconds after which a job whose offer was never agreed may be refunded (for jobs asked from now on).
    uint256 public jobTimeout;
    /// @notice The longest `jobTimeout` the owner may set.
    uint256 public constant MAX_JOB_TIMEOUT = 30 days;
    /// @notice The gas a client's `receiveJobResults` is given; a callback that needs more fails (and the job is
    /// completed all the same, with `delivered` false).
    uint256 public constant RESULTS_CALLBACK_GAS = 200_000;
    /// @dev The gas {deliverResults} needs left before the callback, so that it gets all of
    /// RESULTS_CALLBACK_GAS after the 63/64 rule and the call's own costs: a sender cannot starve it.
    uint256 private constant CALLBACK_GAS_NEEDED = RESULTS_CALLBACK_GAS + RESULTS_CALLBACK_GAS / 63 + 10_000;

    uint256 private _nextJobId = 1;
    mapping(uint256 jobId => Job) private _jobs;
    /// @notice The job each bound job offer (by its digest, the deal's id) belongs to; 0 for none.
    mapping(bytes32 dealId => uint256 jobId) public jobOfDeal;
    /// @notice Chain coin refunds that could not be sent to their client, which it claims with {claimRefund}.
    mapping(address client => uint256) public refundsOwed;
    /// @notice Chain coin the clients may still get back: paid for Requested jobs, plus `refundsOwed`.
    uint256 public coinOwed;
    /// @notice LP the clients may still get back: paid for Requested LP-paid jobs.
    uint256 public lpOwed;

    error ZeroAddress();
    error EmptyModule();
    error PaymentTooSmall(uint256 paid, uint256 price);
    error NotOperator(address caller);
    error JobNotRequested(uint256 jobId);
    error NotJobCreatorOfDeal(bytes32 dealId, address jobCreator);
    error DealHasNoResults(bytes32 dealId);
    error DealAlreadyDelivered(bytes32 dealId);
    error TooEarlyToRefund(uint256 jobId, uint256 refundableAt);
    error CoinTransferFailed(address to, uint256 amount);
    error NothingOwed(address client);
    error DealNotOfJob(uint256 jobId, bytes32 dealId, bytes32 boundDealId);
    error JobTimeoutTooLong(uint256 timeout, uint256 max);
    error DealAlreadyBound(bytes32 dealId, uint256 jobId);
    error DealAlreadyAgreed(uint256 jobId, bytes32 dealId, LilypadDeals.DealState state);
    error DealStillOpen(uint256 jobId, bytes32 dealId, LilypadDeals.DealState state);
    error JobHasResults(uint256 jobId, bytes32 dealId);
    error ExceedsSurplus(uint256 amount, uint256 surplus);
    error NotEnoughGasForCallback(uint256 gasLeft, uint256 needed);

    event JobAdded(uint256 indexed jobId, address indexed client, string module, string[] inputs, address payee);
    event JobCompleted(uint256 indexed jobId, bytes32 indexed dealId, string cid, bool delivered);
    event JobRefunded(uint256 indexed jobId, address indexed client);
    event RefundOwed(address indexed client, uint256 amount);
    event RefundClaimed(address indexed client, address to, uint256 amount);
    event JobResultsChallenged(uint256 indexed jobId, bytes32 indexed dealId);
    event JobOfferBound(uint256 indexed jobId, bytes32 indexed dealId);
    event CoinWithdrawn(address to, uint256 amount);
    event LpWithdrawn(address to, uint256 amount);
    event OperatorChanged(address operator);
    event PricesChanged(uint256 jobPriceLp, uint256 jobPriceCoin, uint256 jobTimeout);

    /// @param lilypadDeals The deal contract.
    /// @param bridgeOperator The bridge's key.
    /// @param priceLp LP per job paid in LP.
    /// @param priceCoin Chain coin per job paid in it.
    /// @param timeout Seconds before a job whose offer was never agreed may be refunded; at most MAX_JOB_TIMEOUT.
    constructor(LilypadDeals lilypadDeals, address bridgeOperator, uint256 priceLp, uint256 priceCoin, uint256 timeout)
        Ownable(msg.sender)
    {
        if (address(lilypadDeals) == address(0) || bridgeOperator == address(0)) revert ZeroAddress();
        if (timeout > MAX_JOB_TIMEOUT) revert JobTimeoutTooLong(timeout, MAX_JOB_TIMEOUT);
        deals = lilypadDeals;
        token = lilypadDeals.token();
        operator = bridgeOperator;
        jobPriceLp = priceLp;
        jobPriceCoin = priceCoin;
        jobTimeout = timeout;
    }

    /// @notice Asks for a job paid in LP: `jobPriceLp` is taken from the caller (approve it first) and
    /// deposited into this contract's escrow for the deal.
    /// @dev Emits {JobAdded}.
    /// @param module The module, as `lilypad run` takes it (e.g. "cowsay:v0.0.1").
    /// @param inputs The inputs, each "KEY=VALUE".
    /// @param payee Who the job is for (recorded and passed on in {JobAdded}).
    /// @return jobId The job's id, passed back in `receiveJobResults`.
    function runJob(string calldata module, string[] calldata inputs, address payee)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        uint256 price = jobPriceLp;
        jobId = _addJob(module, inputs, payee, price, 0);
        token.safeTransferFrom(msg.sender, address(this), price);
        token.forceApprove(address(deals), price);
        deals.depositFor(address(this), price);
    }

    /// @notice Asks for a job paid in the chain's coin, with the network's default mediators.
    /// @dev Send at least `jobPriceCoin`. Emits {JobAdded}.
    /// @param name The module, e.g. "cowsay:v0.0.1".
    /// @param params The inputs, "KEY=VALUE" lines separated by newlines.
    /// @return jobId The job's id, passed back in `receiveJobResults`.
    function runModuleWithDefaultMediators(string calldata name, string calldata params)
        external
        payable
        nonReentrant
        returns (uint256 jobId)
    {
        if (msg.value < jobPriceCoin) revert PaymentTooSmall(msg.value, jobPriceCoin);
        string[] memory inputs = new string[](1);
        inputs[0] = params;
        jobId = _addJob(name, inputs, msg.sender, 0, msg.value);
    }

    /// @notice Binds a job offer to a job before the operator signs and posts it: from now on this contract's
    /// signature is valid for that offer only while it is the job's current offer and the job is Requested.
    /// @dev Only the operator. A job may be bound to a new offer only while its current one was never agreed,
    /// or its deal ended without results (submit timeout, mediation rejected or timed out); binding voids the
    /// old offer's signature. An offer is bound to one job, once. Emits {JobOfferBound}.
    /// @param jobId The job.
    /// @param dealId The job offer's EIP-712 digest under the deal contract (the id its deal will have).
    function bindJobOffer(uint256 jobId, bytes32 dealId) external {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        if (jobOfDeal[dealId] != 0) revert DealAlreadyBound(dealId, jobOfDeal[dealId]);
        if (job.dealId != bytes32(0)) {
            LilypadDeals.DealState state = deals.getDeal(job.dealId).state;
            if (state != LilypadDeals.DealState.None && !_endedWithoutResults(state)) {
                revert DealAlreadyAgreed(jobId, job.dealId, state);
            }
        }
        job.dealId = dealId;
        jobOfDeal[dealId] = jobId;
        emit JobOfferBound(jobId, dealId);
    }

    /// @notice Delivers a job's results: checks that the deal is the job's and has results, then calls the
    /// client's `receiveJobResults` with RESULTS_CALLBACK_GAS. A client that reverts or runs out of that gas
    /// does not block delivery.
    /// @dev Only the operator. Reverts with {NotEnoughGasForCallback} when sent with too little gas for the
    /// callback's whole allowance, so the operator cannot starve a client. Emits {JobCompleted}.
    /// @param jobId The job.
    /// @param dealId The deal that ran it (the job's bound offer).
    /// @param cid The result folder's CID, as the deal's ResultsSubmitted event carries it.
    function deliverResults(uint256 jobId, bytes32 dealId, string calldata cid) external nonReentrant {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        if (job.dealId != dealId) revert DealNotOfJob(jobId, dealId, job.dealId);
        LilypadDeals.Deal memory deal = deals.getDeal(dealId);
        if (deal.jobCreator != address(this)) revert NotJobCreatorOfDeal(dealId, deal.jobCreator);
        if (!_hasResults(deal.state)) revert DealHasNoResults(dealId);

        job.state = JobState.Completed;
        // The job's payment is the pool's now: the deal paid (or will pay) its provider.
        lpOwed -= job.paidLp;
        coinOwed -= job.paidCoin;

        bool delivered;
        if (job.client.code.length > 0) {
            if (gasleft() < CALLBACK_GAS_NEEDED) revert NotEnoughGasForCallback(gasleft(), CALLBACK_GAS_NEEDED);
            try ILilypadJobResultsReceiver(job.client).receiveJobResults{gas: RESULTS_CALLBACK_GAS}(jobId, cid) {
                delivered = true;
            } catch {}
        }
        emit JobCompleted(jobId, dealId, cid, delivered);
    }

    /// @notice Challenges the results of a job's deal when the bridge's audit contradicts them: reveals this
    /// contract's mediator seed and draws the mediator, as {LilypadDeals-challengeResults} does for any job
    /// creator. The mediation fee is locked from this contract's escrow. From then on the job follows the
    /// ruling: {deliverResults} only once the mediator accepts the results, {refund} at once when it rejects
    /// them or the mediation times out.
    /// @dev Only the operator (it holds the seed: the job offer's `mediatorSeedHash` is its commitment), and only
    /// the job's bound deal. The deal contract checks that this contract is the deal's job creator, the judge
    /// window, and the seed (so a deal is challenged at most once). Emits {JobResultsChallenged}.
    /// @param jobId The job whose deal is challenged.
    /// @param dealId The deal that ran it.
    /// @param jobCreatorSeed The seed whose keccak256(abi.encode(seed)) is the job offer's `mediatorSeedHash`.
    /// @param candidates The mediator candidates, as in the deal's {LilypadDeals-DealAgreed} event.
    /// @param providerSeed The resource provider's seed, as in the deal's {LilypadDeals-ResultsSubmitted} event.
    function challengeResults(
        uint256 jobId,
        bytes32 dealId,
        bytes32 jobCreatorSeed,
        address[] calldata candidates,
        bytes32 providerSeed
    ) external nonReentrant {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        if (job.dealId != dealId) revert DealNotOfJob(jobId, dealId, job.dealId);
        emit JobResultsChallenged(jobId, dealId);
        deals.challengeResults(dealId, jobCreatorSeed, candidates, providerSeed);
    }

    /// @notice Gives a job's payment back to its client when its deal ended without results (the provider
    /// missed the submit deadline, or the mediator rejected the results or never ruled: the deal's price, and
    /// any slashed collateral, are back in this contract's escrow), or once the job's `refundableAt` has
    /// passed when no offer of the job was ever agreed. The refund voids the job's offer, so it can never be
    /// agreed afterwards.
    /// @dev Anyone may send it. It reverts with {DealStillOpen} while the job's deal is open (it may still pay
    /// its provider: refunding then would pay twice), and with {JobHasResults} once the deal paid its provider:
    /// those results are the client's, and only {deliverResults} ends the job (the result CID lives in the
    /// deal's log, not in storage, so only the operator can deliver it). LP comes out of this contract's free
    /// escrow. Emits {JobRefunded}.
    /// @param jobId The job.
    function refund(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        LilypadDeals.DealState state =
            job.dealId == bytes32(0) ? LilypadDeals.DealState.None : deals.getDeal(job.dealId).state;
        if (state == LilypadDeals.DealState.None) {
            if (block.timestamp < job.refundableAt) revert TooEarlyToRefund(jobId, job.refundableAt);
        } else if (state == LilypadDeals.DealState.ResultsAccepted || state == LilypadDeals.DealState.MediationAccepted) {
            revert JobHasResults(jobId, job.dealId);
        } else if (!_endedWithoutResults(state)) {
            revert DealStillOpen(jobId, job.dealId, state);
        }
        job.state = JobState.Refunded;
        lpOwed -= job.paidLp;
        emit JobRefunded(jobId, job.client);
        if (job.paidLp > 0) {
            deals.withdraw(job.paidLp);
            token.safeTransfer(job.client, job.paidLp);
        }
        if (job.paidCoin > 0) {
            // A client that cannot take coin (a contract without `receive`) claims it later instead, so the
            // refund can never be stuck here nor block the job's state.
            (bool sent,) = job.client.call{value: job.paidCoin}("");
            if (sent) {
                coinOwed -= job.paidCoin;
            } else {
                refundsOwed[job.client] += job.paidCoin;
                emit RefundOwed(job.client, job.paidCoin);
            }
        }
    }

    /// @notice Sends the caller's coin refunds that could not be sent to it when its jobs were refunded.
    /// @dev Emits {RefundClaimed}.
    /// @param to Where the coin goes.
    function claimRefund(address payable to) external nonReentrant {
        uint256 amount = refundsOwed[msg.sender];
        if (amount == 0) revert NothingOwed(msg.sender);
        refundsOwed[msg.sender] = 0;
        coinOwed -= amount;
        emit RefundClaimed(msg.sender, to, amount);
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert CoinTransferFailed(to, amount);
    }

    /// @notice ERC-1271: a signature is this contract's when the operator made it and, for a bound job offer,
    /// the offer is still its job's current one and the job is still Requested.
    /// @param hash The digest signed.
    /// @param signature The operator's ECDSA signature.
    /// @return magicValue 0x1626ba7e when valid, 0xffffffff otherwise.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue) {
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
        bool valid = error == ECDSA.RecoverError.NoError && signer == operator;
        uint256 jobId = jobOfDeal[hash];
        if (valid && jobId != 0) {
            Job storage job = _jobs[jobId];
            valid = job.state == JobState.Requested && job.dealId == hash;
        }
        return valid ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    /// @notice A job.
    /// @param jobId The job.
    /// @return The job.
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @notice Tops up this contract's LP escrow, which pays deals for jobs paid in the chain's coin.
    /// @param amount LP (wei), taken from the caller.
    function fundEscrow(uint256 amount) external nonReentrant {
        token.safeTransferFrom(msg.sender, address(this), amount);
        token.forceApprove(address(deals), amount);
        deals.depositFor(address(this), amount);
    }

    /// @notice Sends collected chain coin to `to` (the owner converts it into LP for {fundEscrow}): only the
    /// surplus, never coin the clients may get back (`coinOwed`).
    /// @param to The recipient.
    /// @param amount Wei, at most `address(this).balance - coinOwed`.
    function withdrawCoin(address payable to, uint256 amount) external onlyOwner nonReentrant {
        uint256 surplus = address(this).balance - coinOwed;
        if (amount > surplus) revert ExceedsSurplus(amount, surplus);
        emit CoinWithdrawn(to, amount);
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert CoinTransferFailed(to, amount);
    }

    /// @notice Sends LP from this contract's free escrow to `to`: only the surplus above `lpOwed`, the LP that
    /// Requested LP-paid jobs may be refunded. LP locked in open deals is not free escrow, so it is never taken.
    /// @param to The recipient.
    /// @param amount LP (wei), at most the free escrow minus `lpOwed`.
    function withdrawLp(address to, uint256 amount) external onlyOwner nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 free = deals.escrowBalance(address(this));
        uint256 surplus = free > lpOwed ? free - lpOwed : 0;
        if (amount > surplus) revert ExceedsSurplus(amount, surplus);
        emit LpWithdrawn(to, amount);
        deals.withdraw(amount);
        token.safeTransfer(to, amount);
    }

    /// @notice Changes the bridge's key.
    /// @param newOperator The new key.
    function setOperator(address newOperator) external onlyOwner {
        if (newOperator == address(0)) revert ZeroAddress();
        operator = newOperator;
        emit OperatorChanged(newOperator);
    }

    /// @notice Changes the prices and the refund timeout for jobs asked for from now on; a job keeps the
    /// `refundableAt` fixed when it was asked for.
    /// @param priceLp LP per job paid in LP.
    /// @param priceCoin Chain coin per job paid in it.
    /// @param timeout Seconds before a job whose offer was never agreed may be refunded; at most MAX_JOB_TIMEOUT.
    function setPrices(uint256 priceLp, uint256 priceCoin, uint256 timeout) external onlyOwner {
        if (timeout > MAX_JOB_TIMEOUT) revert JobTimeoutTooLong(timeout, MAX_JOB_TIMEOUT);
        jobPriceLp = priceLp;
        jobPriceCoin = priceCoin;
        jobTimeout = timeout;
        emit PricesChanged(priceLp, priceCoin, timeout);
    }

    /// Whether a deal ended without results to deliver, its price back in this contract's escrow.
    function _endedWithoutResults(LilypadDeals.DealState state) private pure returns (bool) {
        return state == LilypadDeals.DealState.SubmitTimedOut || state == LilypadDeals.DealState.MediationRejected
            || state == LilypadDeals.DealState.MediationTimedOut;
    }

    /// Whether a deal has results that stand (submitted and not challenged, or accepted).
    function _hasResults(LilypadDeals.DealState state) private pure returns (bool) {
        return state == LilypadDeals.DealState.ResultsSubmitted || state == LilypadDeals.DealState.ResultsAccepted
            || state == LilypadDeals.DealState.MediationAccepted;
    }

    function _addJob(string calldata module, string[] memory inputs, address payee, uint256 paidLp, uint256 paidCoin)
        private
        returns (uint256 jobId)
    {
        if (bytes(module).length == 0) revert EmptyModule();
        jobId = _nextJobId++;
        Job storage job = _jobs[jobId];
        job.client = msg.sender;
        job.payee = payee;
        job.state = JobState.Requested;
        job.requestedAt = uint64(block.timestamp);
        job.refundableAt = uint64(block.timestamp + jobTimeout);
        job.paidLp = paidLp;
        job.paidCoin = paidCoin;
        if (paidLp > 0) lpOwed += paidLp;
        if (paidCoin > 0) coinOwed += paidCoin;
        job.module = module;
        for (uint256 i = 0; i < inputs.length; ++i) {
            job.inputs.push(inputs[i]);
        }
        emit JobAdded(jobId, msg.sender, module, inputs, payee);
    }
}
