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
/// payment, refund or slashed collateral always lands with this contract. A job whose results are not
/// delivered within `jobTimeout` can be refunded to its client ({refund}), so no payment is stuck.
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
        address payee;
        JobState state;
        uint64 requestedAt;
        /// LP (wei) for a job paid in LP, or 0.
        uint256 paidLp;
        /// Chain coin (wei) for a job paid in it, or 0.
        uint256 paidCoin;
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
    /// @notice Seconds after which a job without results may be refunded.
    uint256 public jobTimeout;

    uint256 private _nextJobId = 1;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(bytes32 dealId => bool) public dealDelivered;
    /// @notice Chain coin refunds that could not be sent to their client, which it claims with {claimRefund}.
    mapping(address client => uint256) public refundsOwed;

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
    error JobAlreadyChallenged(uint256 jobId, bytes32 dealId);
    error DealNotOfJob(uint256 jobId, bytes32 dealId, bytes32 challengedDealId);

    event JobAdded(uint256 indexed jobId, address indexed client, string module, string[] inputs, address payee);
    event JobCompleted(uint256 indexed jobId, bytes32 indexed dealId, string cid, bool delivered);
    event JobRefunded(uint256 indexed jobId, address indexed client);
    event RefundOwed(address indexed client, uint256 amount);
    event RefundClaimed(address indexed client, address to, uint256 amount);
    event JobResultsChallenged(uint256 indexed jobId, bytes32 indexed dealId);
    event OperatorChanged(address operator);
    event PricesChanged(uint256 jobPriceLp, uint256 jobPriceCoin, uint256 jobTimeout);

    /// @param lilypadDeals The deal contract.
    /// @param bridgeOperator The bridge's key.
    /// @param priceLp LP per job paid in LP.
    /// @param priceCoin Chain coin per job paid in it.
    /// @param timeout Seconds before an undelivered job may be refunded.
    constructor(LilypadDeals lilypadDeals, address bridgeOperator, uint256 priceLp, uint256 priceCoin, uint256 timeout)
        Ownable(msg.sender)
    {
        if (address(lilypadDeals) == address(0) || bridgeOperator == address(0)) revert ZeroAddress();
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

    /// @notice Delivers a job's results: checks that the deal is this contract's and has results, then calls
    /// the client's `receiveJobResults`. A client that reverts does not block delivery.
    /// @dev Only the operator. Emits {JobCompleted}.
    /// @param jobId The job.
    /// @param dealId The deal that ran it.
    /// @param cid The result folder's CID, as the deal's ResultsSubmitted event carries it.
    function deliverResults(uint256 jobId, bytes32 dealId, string calldata cid) external nonReentrant {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        // A challenged job's results are those of the challenged deal, once its mediator accepted them.
        if (job.dealId != bytes32(0) && job.dealId != dealId) revert DealNotOfJob(jobId, dealId, job.dealId);
        LilypadDeals.Deal memory deal = deals.getDeal(dealId);
        if (deal.jobCreator != address(this)) revert NotJobCreatorOfDeal(dealId, deal.jobCreator);
        if (
            deal.state != LilypadDeals.DealState.ResultsSubmitted && deal.state != LilypadDeals.DealState.ResultsAccepted
                && deal.state != LilypadDeals.DealState.MediationAccepted
        ) revert DealHasNoResults(dealId);
        if (dealDelivered[dealId]) revert DealAlreadyDelivered(dealId);

        job.state = JobState.Completed;
        job.dealId = dealId;
        dealDelivered[dealId] = true;

        bool delivered;
        if (job.client.code.length > 0) {
            try ILilypadJobResultsReceiver(job.client).receiveJobResults(jobId, cid) {
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
    /// @dev Only the operator (it holds the seed: the job offer's `mediatorSeedHash` is its commitment). The
    /// deal contract checks that this contract is the deal's job creator, the judge window, and the seed.
    /// A job is challenged at most once. Emits {JobResultsChallenged}.
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
        if (job.dealId != bytes32(0)) revert JobAlreadyChallenged(jobId, job.dealId);
        job.dealId = dealId;
        emit JobResultsChallenged(jobId, dealId);
        deals.challengeResults(dealId, jobCreatorSeed, candidates, providerSeed);
    }

    /// @notice Gives a job's payment back to its client when no results came within `jobTimeout`, or at once
    /// when the mediator rejected the results of the job's challenged deal (or never ruled): the deal's price
    /// and the slashed collateral are back in this contract's escrow, and there are no results to deliver.
    /// @dev Anyone may send it. LP comes out of this contract's free escrow. Emits {JobRefunded}.
    /// @param jobId The job.
    function refund(uint256 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        if (job.state != JobState.Requested) revert JobNotRequested(jobId);
        if (!_resultsRuledOut(job.dealId)) {
            uint256 refundableAt = uint256(job.requestedAt) + jobTimeout;
            if (block.timestamp < refundableAt) revert TooEarlyToRefund(jobId, refundableAt);
        }
        job.state = JobState.Refunded;
        emit JobRefunded(jobId, job.client);
        if (job.paidLp > 0) {
            deals.withdraw(job.paidLp);
            token.safeTransfer(job.client, job.paidLp);
        }
        if (job.paidCoin > 0) {
            // A client that cannot take coin (a contract without `receive`) claims it later instead, so the
            // refund can never be stuck here nor block the job's state.
            (bool sent,) = job.client.call{value: job.paidCoin}("");
            if (!sent) {
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
        emit RefundClaimed(msg.sender, to, amount);
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert CoinTransferFailed(to, amount);
    }

    /// @notice ERC-1271: a signature is this contract's when the operator made it.
    /// @param hash The digest signed.
    /// @param signature The operator's ECDSA signature.
    /// @return magicValue 0x1626ba7e when valid, 0xffffffff otherwise.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue) {
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
        return error == ECDSA.RecoverError.NoError && signer == operator ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
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

    /// @notice Sends collected chain coin to `to` (the owner converts it into LP for {fundEscrow}).
    /// @param to The recipient.
    /// @param amount Wei.
    function withdrawCoin(address payable to, uint256 amount) external onlyOwner {
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert CoinTransferFailed(to, amount);
    }

    /// @notice Changes the bridge's key.
    /// @param newOperator The new key.
    function setOperator(address newOperator) external onlyOwner {
        if (newOperator == address(0)) revert ZeroAddress();
        operator = newOperator;
        emit OperatorChanged(newOperator);
    }

    /// @notice Changes the prices and the refund timeout for jobs asked for from now on.
    function setPrices(uint256 priceLp, uint256 priceCoin, uint256 timeout) external onlyOwner {
        jobPriceLp = priceLp;
        jobPriceCoin = priceCoin;
        jobTimeout = timeout;
        emit PricesChanged(priceLp, priceCoin, timeout);
    }

    /// Whether a challenged deal ended without results to deliver: rejected by its mediator, or timed out.
    function _resultsRuledOut(bytes32 dealId) private view returns (bool) {
        if (dealId == bytes32(0)) return false;
        LilypadDeals.DealState state = deals.getDeal(dealId).state;
        return state == LilypadDeals.DealState.MediationRejected || state == LilypadDeals.DealState.MediationTimedOut;
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
        job.paidLp = paidLp;
        job.paidCoin = paidCoin;
        job.module = module;
        for (uint256 i = 0; i < inputs.length; ++i) {
            job.inputs.push(inputs[i]);
        }
        emit JobAdded(jobId, msg.sender, module, inputs, payee);
    }
}
