// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title Lilypad deals
/// @notice Holds escrow in LP, agrees deals from a signed job offer and a signed resource offer, and settles
/// payment, collateral and mediation fees on every path a deal can take.
/// @dev The EIP-712 types must match src/protocol/eip712.ts field for field, and the states and transitions
/// must match src/protocol/deal-states.ts. A deal's id is the EIP-712 digest of its job offer, so one job
/// offer makes at most one deal. Tokens only enter through the deposit functions and only leave through
/// {withdraw}; in between, money moves between free escrow (per account) and the amounts held by open deals.
/// At every moment: token.balanceOf(this) == Σ free escrow + Σ (price + collateral + held mediation fee) of
/// open deals.
///
/// Life of a deal (P = price, C = collateral = P × collateralMultiple, F = mediation fee):
/// - Agreed: P locked from the job creator, C from the resource provider. Agreement is one transaction, sent by
///   the resource provider with the job creator's signed offer and its signed acceptance of the match, so there
///   is no half-agreed state; an offer that is not agreed before its `expiry` never
///   can be (that is the agreement timeout) and nothing was locked for it.
/// - Agreed → ResultsSubmitted by the resource provider before `submitTimeout` has passed.
/// - Agreed → SubmitTimedOut by anyone after that: the job creator gets P + C (the collateral is slashed to
///   the wronged party).
/// - ResultsSubmitted → ResultsAccepted by the job creator ({acceptResults}), by anyone with the job creator's
///   signed acceptance, or by anyone once the judge window has passed (optimistic acceptance, {settleResults}):
///   the resource provider gets P + C.
/// - ResultsSubmitted → ResultsChecked by the job creator within the judge window ({challengeResults}); F is
///   locked from the job creator and a mediator is drawn (see {challengeResults}).
/// - ResultsChecked → MediationAccepted by the mediator (results were right): the resource provider gets
///   P + C, the mediator F.
/// - ResultsChecked → MediationRejected by the mediator (results were wrong): the job creator gets P + C, the
///   mediator F.
/// - ResultsChecked → MediationTimedOut by anyone after `mediationTimeout`: the job creator gets P + F back
///   and the resource provider C; nobody is paid, since nobody can be shown to be wrong.
contract LilypadDeals is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice What a job creator signs: the job (by module id and inputs hash) and its terms.
    /// @dev `mediatorSeedHash` is keccak256(abi.encode(seed)) of a secret 32-byte seed that the job creator
    /// reveals only when it challenges; it is its half of the mediator draw.
    /// `detailsHash` binds what the job offer says off chain beyond the module and inputs (the module's name, the
    /// machine and engine it asks for), so that no copy with other details can stand for the signed offer.
    /// `minCollateral` is the least collateral (LP wei) the job creator accepts from a resource provider.
    struct JobOffer {
        address jobCreator;
        bytes32 moduleId;
        bytes32 inputsHash;
        bytes32 detailsHash;
        uint256 maxPrice;
        uint256 minCollateral;
        address[] mediators;
        bytes32 mediatorSeedHash;
        uint256 mediationFee;
        uint256 submitTimeout;
        uint256 judgeWindow;
        uint256 mediationTimeout;
        uint256 nonce;
        uint256 expiry;
    }

    /// @notice What a resource provider signs: its price, collateral, the timeouts it accepts and how many
    /// deals the offer may make (`capacity` is kept by the provider and the solver: only the provider can agree
    /// a deal, so the chain need not count uses).
    struct ResourceOffer {
        address resourceProvider;
        uint256 price;
        uint256 collateralMultiple;
        uint256 capacity;
        address[] mediators;
        uint256 minSubmitTimeout;
        uint256 maxJudgeWindow;
        uint256 maxMediationTimeout;
        bytes32 detailsHash;
        uint256 nonce;
        uint256 expiry;
    }

    /// @notice The states of a deal, in the order of src/protocol/deal-states.ts. `None`: no deal has this id.
    enum DealState {
        None,
        Agreed,
        ResultsSubmitted,
        ResultsAccepted,
        ResultsChecked,
        MediationAccepted,
        MediationRejected,
        SubmitTimedOut,
        MediationTimedOut
    }

    /// @notice A deal as stored on chain, packed into five slots (the fifth is written only by a challenge).
    struct Deal {
        address jobCreator;
        DealState state;
        /// Unix seconds until which the current state's action is allowed; after it, its timeout is.
        uint40 deadline;
        uint24 judgeWindow;
        uint24 mediationTimeout;
        address resourceProvider;
        uint96 price;
        uint96 collateral;
        uint96 mediationFee;
        /// The block whose ResultsSubmitted event carries the result CID (kept in the log, not in storage).
        uint64 resultsBlock;
        /// The commitment to both halves of the mediator draw (see {challengeResults}).
        bytes32 mediatorSeed;
        address mediator;
    }

    bytes32 public constant JOB_OFFER_TYPEHASH = keccak256(
        "JobOffer(address jobCreator,bytes32 moduleId,bytes32 inputsHash,bytes32 detailsHash,uint256 maxPrice,uint256 minCollateral,address[] mediators,bytes32 mediatorSeedHash,uint256 mediationFee,uint256 submitTimeout,uint256 judgeWindow,uint256 mediationTimeout,uint256 nonce,uint256 expiry)"
    );

    bytes32 public constant RESOURCE_OFFER_TYPEHASH = keccak256(
        "ResourceOffer(address resourceProvider,uint256 price,uint256 collateralMultiple,uint256 capacity,address[] mediators,uint256 minSubmitTimeout,uint256 maxJudgeWindow,uint256 maxMediationTimeout,bytes32 detailsHash,uint256 nonce,uint256 expiry)"
    );

    bytes32 public constant MATCH_ACCEPTANCE_TYPEHASH =
        keccak256("MatchAcceptance(bytes32 dealId,bytes32 resourceOfferId)");

    bytes32 public constant RESULTS_ACCEPTANCE_TYPEHASH = keccak256("ResultsAcceptance(bytes32 dealId)");

    /// @dev EIP-2612's permit type, to recognise a permit that was put on the token before {depositWithPermit}.
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    /// @notice The LP token that escrow is held in.
    IERC20 public immutable token;

    mapping(address account => uint256) private _freeEscrow;
    mapping(bytes32 dealId => Deal) private _deals;
    /// @dev Per holder, the token permit nonce from which its permits have not yet funded a deposit here.
    mapping(address owner => uint256) private _unspentPermitNonce;

    error ZeroAddress();
    error ZeroAmount();
    error InsufficientEscrow(address account, uint256 needed, uint256 available);
    error InvalidSignature(address signer, bytes32 digest);
    error OfferExpired(bytes32 digest, uint256 expiry, uint256 currentTime);
    error JobOfferAlreadyUsed(bytes32 dealId);
    error PriceAboveMaximum(uint256 price, uint256 maxPrice);
    error CollateralBelowMinimum(uint256 collateral, uint256 minCollateral);
    error MediationTimeoutTooLong(uint256 mediationTimeout, uint256 maxMediationTimeout);
    error NoSharedMediator();
    error SubmitTimeoutTooShort(uint256 submitTimeout, uint256 minSubmitTimeout);
    error JudgeWindowTooLong(uint256 judgeWindow, uint256 maxJudgeWindow);
    error TimeoutOutOfRange(uint256 timeout, uint256 max);
    error DealNotFound(bytes32 dealId);
    error UnauthorizedCaller(bytes32 dealId, address caller, address required);
    error InvalidDealState(bytes32 dealId, DealState current, DealState required);
    error EmptyResultCid(bytes32 dealId);
    error DeadlinePassed(bytes32 dealId, uint256 deadline, uint256 currentTime);
    error DeadlineNotPassed(bytes32 dealId, uint256 deadline, uint256 currentTime);
    error MediatorSeedMismatch(bytes32 dealId);
    error LengthMismatch(uint256 dealIds, uint256 acceptances);
    error InvalidPermit(address owner);

    event Deposited(address indexed account, address indexed payer, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event DealAgreed(
        bytes32 indexed dealId,
        address indexed jobCreator,
        address indexed resourceProvider,
        uint256 price,
        uint256 collateral,
        address[] mediatorCandidates
    );
    event ResultsSubmitted(bytes32 indexed dealId, string resultCid, bytes32 providerSeed);
    event ResultsAccepted(bytes32 indexed dealId, bool optimistic);
    event ResultsChallenged(bytes32 indexed dealId, address indexed mediator);
    event MediationRuled(bytes32 indexed dealId, bool resultsCorrect);
    event DealTimedOut(bytes32 indexed dealId, DealState state);

    /// @param lilypadToken The LP token that escrow, payment and collateral are held in.
    constructor(IERC20 lilypadToken) EIP712("Lilypad", "1") {
        if (address(lilypadToken) == address(0)) revert ZeroAddress();
        token = lilypadToken;
    }

    // ---------------------------------------------------------------- escrow

    /// @notice Moves `amount` LP from the caller into the caller's free escrow.
    /// @dev The caller must have approved this contract for `amount`. Emits {Deposited}.
    /// @param amount The amount of LP (wei) to deposit.
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, msg.sender, amount);
    }

    /// @notice Moves `amount` LP from the caller into `account`'s free escrow.
    /// @dev Lets a faucet or a sponsor fund a job creator that has no gas. Emits {Deposited}.
    /// @param account The account whose free escrow is credited.
    /// @param amount The amount of LP (wei) to deposit.
    function depositFor(address account, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _deposit(msg.sender, account, amount);
    }

    /// @notice Moves `amount` LP from `owner`'s wallet into `owner`'s free escrow, authorised by an EIP-2612
    /// permit that `owner` signed. Anyone may send it, so a job creator with LP but no gas can fund its escrow.
    /// @dev It acts only on a valid permit: one the token accepts now, or (when someone front-ran it by putting
    /// the same permit on the token first, the case OpenZeppelin's IERC20Permit warns of) one that is the
    /// holder's latest permit, made out to this contract for `amount`, unexpired, and not yet used for a
    /// deposit here. A garbage permit reverts with {InvalidPermit} even where an allowance exists, so nobody can
    /// move a holder's LP on an allowance it gave for something else. Emits {Deposited}.
    /// @param owner The holder of the LP; its escrow is credited.
    /// @param amount The amount of LP (wei).
    /// @param deadline The permit's deadline.
    /// @param v The permit signature's v.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        if (owner == address(0)) revert ZeroAddress();
        IERC20Permit permitToken = IERC20Permit(address(token));
        uint256 nonce = permitToken.nonces(owner);
        try permitToken.permit(owner, address(this), amount, deadline, v, r, s) {}
        catch {
            // Front-run: the permit already spent its nonce on the token, so it is the one before.
            if (
                nonce == 0 || nonce - 1 < _unspentPermitNonce[owner] || block.timestamp > deadline
                    || !_isPermit(permitToken, owner, amount, nonce - 1, deadline, v, r, s)
            ) revert InvalidPermit(owner);
            nonce -= 1;
        }
        _unspentPermitNonce[owner] = nonce + 1;
        _deposit(owner, owner, amount);
    }

    /// @notice Sends `amount` LP of the caller's free escrow back to the caller.
    /// @dev Money held by open deals cannot be withdrawn. Emits {Withdrawn}.
    /// @param amount The amount of LP (wei) to withdraw.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 available = _freeEscrow[msg.sender];
        if (amount > available) revert InsufficientEscrow(msg.sender, amount, available);
        _freeEscrow[msg.sender] = available - amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice The free (withdrawable, lockable) escrow of `account`.
    /// @param account The account to look up.
    /// @return The free escrow in LP (wei).
    function escrowBalance(address account) external view returns (uint256) {
        return _freeEscrow[account];
    }

    // ----------------------------------------------------------------- deals

    /// @notice Agrees a deal between a signed job offer and the resource provider's own resource offer. Only
    /// the resource provider sends it: its transaction is its consent, so no resource offer can make a deal
    /// that its provider does not know of. The job creator needs no gas: it signs its offer, and then its
    /// acceptance of the match (this resource offer for this job offer), which the provider sends along.
    /// @dev Both parties' terms bind: the job offer's price ceiling, least collateral and timeouts, the resource
    /// offer's price, collateral multiple and timeout bounds; the job creator's match acceptance fixes which
    /// resource offer (by its EIP-712 digest), so nobody who saw the signed job offer (the solver, a stranger)
    /// can agree it on other terms. Locks the price from the job creator's free escrow and the collateral
    /// (price × collateralMultiple) from the resource provider's. The mediator candidates are the job offer's
    /// mediators that the resource offer also lists, in the job offer's order, each once. Emits {DealAgreed}.
    /// @param jobOffer The job creator's offer.
    /// @param jobCreatorSignature The job creator's EIP-712 signature of `jobOffer` (or an ERC-1271 one).
    /// @param resourceOffer The resource provider's offer; `resourceOffer.resourceProvider` must send this.
    /// @param matchAcceptance The job creator's EIP-712 signature of MatchAcceptance(dealId, resourceOfferId).
    /// @return dealId The EIP-712 digest of `jobOffer`.
    function agreeDeal(
        JobOffer calldata jobOffer,
        bytes calldata jobCreatorSignature,
        ResourceOffer calldata resourceOffer,
        bytes calldata matchAcceptance
    ) external returns (bytes32 dealId) {
        dealId = hashJobOffer(jobOffer);
        if (msg.sender != resourceOffer.resourceProvider) {
            revert UnauthorizedCaller(dealId, msg.sender, resourceOffer.resourceProvider);
        }
        _checkSignedOffer(jobOffer.jobCreator, dealId, jobCreatorSignature, jobOffer.expiry);
        if (_deals[dealId].state != DealState.None) revert JobOfferAlreadyUsed(dealId);
        if (block.timestamp > resourceOffer.expiry) {
            revert OfferExpired(hashResourceOffer(resourceOffer), resourceOffer.expiry, block.timestamp);
        }
        bytes32 matchDigest = hashMatchAcceptance(dealId, hashResourceOffer(resourceOffer));
        if (!SignatureChecker.isValidSignatureNow(jobOffer.jobCreator, matchDigest, matchAcceptance)) {
            revert InvalidSignature(jobOffer.jobCreator, matchDigest);
        }
        if (resourceOffer.price > jobOffer.maxPrice) revert PriceAboveMaximum(resourceOffer.price, jobOffer.maxPrice);
        uint256 collateralAmount = resourceOffer.price * resourceOffer.collateralMultiple;
        if (collateralAmount < jobOffer.minCollateral) revert CollateralBelowMinimum(collateralAmount, jobOffer.minCollateral);
        if (jobOffer.submitTimeout < resourceOffer.minSubmitTimeout) {
            revert SubmitTimeoutTooShort(jobOffer.submitTimeout, resourceOffer.minSubmitTimeout);
        }
        if (jobOffer.judgeWindow > resourceOffer.maxJudgeWindow) {
            revert JudgeWindowTooLong(jobOffer.judgeWindow, resourceOffer.maxJudgeWindow);
        }
        if (jobOffer.mediationTimeout > resourceOffer.maxMediationTimeout) {
            revert MediationTimeoutTooLong(jobOffer.mediationTimeout, resourceOffer.maxMediationTimeout);
        }
        address[] memory candidates = _sharedMediators(jobOffer.mediators, resourceOffer.mediators);
        if (candidates.length == 0) revert NoSharedMediator();

        uint96 price = resourceOffer.price.toUint96();
        uint96 collateral = collateralAmount.toUint96();
        _takeFree(jobOffer.jobCreator, price);
        _takeFree(resourceOffer.resourceProvider, collateral);

        Deal storage deal = _deals[dealId];
        deal.jobCreator = jobOffer.jobCreator;
        deal.state = DealState.Agreed;
        deal.deadline = _deadline(jobOffer.submitTimeout);
        deal.judgeWindow = _window(jobOffer.judgeWindow);
        deal.mediationTimeout = _window(jobOffer.mediationTimeout);
        deal.resourceProvider = resourceOffer.resourceProvider;
        deal.price = price;
        deal.collateral = collateral;
        deal.mediationFee = jobOffer.mediationFee.toUint96();
        deal.mediatorSeed = keccak256(abi.encode(jobOffer.mediatorSeedHash, keccak256(abi.encodePacked(candidates))));
        emit DealAgreed(dealId, jobOffer.jobCreator, resourceOffer.resourceProvider, price, collateral, candidates);
    }

    /// @notice Posts the CID of the result directory of a deal, with the resource provider's half of the
    /// mediator draw.
    /// @dev Only the deal's resource provider, while the deal is Agreed and its submit deadline has not passed.
    /// The CID is kept in the {ResultsSubmitted} log (its block is stored), not in storage, to save gas.
    /// `providerSeed` must be fresh and unpredictable; it is public from now on. Emits {ResultsSubmitted}.
    /// @param dealId The deal.
    /// @param resultCid The IPFS CID of the result directory.
    /// @param providerSeed 32 random bytes (see {challengeResults}).
    function submitResults(bytes32 dealId, string calldata resultCid, bytes32 providerSeed) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.resourceProvider);
        _requireState(dealId, deal, DealState.Agreed);
        _requireBeforeDeadline(dealId, deal);
        if (bytes(resultCid).length == 0) revert EmptyResultCid(dealId);

        deal.state = DealState.ResultsSubmitted;
        deal.deadline = _deadline(deal.judgeWindow);
        deal.resultsBlock = uint64(block.number);
        deal.mediatorSeed = keccak256(abi.encode(deal.mediatorSeed, providerSeed));
        emit ResultsSubmitted(dealId, resultCid, providerSeed);
    }

    /// @notice Accepts the results of a deal: pays the resource provider and returns its collateral.
    /// @dev Only the deal's job creator, while the deal is ResultsSubmitted. Emits {ResultsAccepted}.
    /// @param dealId The deal.
    function acceptResults(bytes32 dealId) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.jobCreator);
        _requireState(dealId, deal, DealState.ResultsSubmitted);
        _accept(dealId, deal, false);
    }

    /// @notice Settles many deals with submitted results in one transaction, each either by its job creator's
    /// signed acceptance or, with an empty signature, optimistically once its judge window has passed. Anyone
    /// may send it; a resource provider uses it to claim all its finished deals at once.
    /// @dev A deal that has left ResultsSubmitted since the batch was made (its job creator accepted it with
    /// {acceptResults}, or challenged it) is skipped, with no event, so that one such deal cannot void the
    /// others: the batch's {ResultsAccepted} events say which deals it settled. It reverts as a whole for a
    /// deal that does not exist, a bad acceptance signature, or an optimistic acceptance before the judge
    /// window has passed. Emits {ResultsAccepted} for each deal it settles.
    /// @param dealIds The deals.
    /// @param acceptances For each deal, the job creator's EIP-712 signature of ResultsAcceptance(dealId)
    /// (ERC-1271 for a contract job creator), or empty for optimistic acceptance.
    function settleResults(bytes32[] calldata dealIds, bytes[] calldata acceptances) external {
        if (dealIds.length != acceptances.length) revert LengthMismatch(dealIds.length, acceptances.length);
        for (uint256 i = 0; i < dealIds.length; ++i) {
            bytes32 dealId = dealIds[i];
            Deal storage deal = _existingDeal(dealId);
            if (deal.state != DealState.ResultsSubmitted) continue;
            bool optimistic = acceptances[i].length == 0;
            if (optimistic) {
                _requireAfterDeadline(dealId, deal);
            } else {
                bytes32 digest = hashResultsAcceptance(dealId);
                if (!SignatureChecker.isValidSignatureNow(deal.jobCreator, digest, acceptances[i])) {
                    revert InvalidSignature(deal.jobCreator, digest);
                }
            }
            _accept(dealId, deal, optimistic);
        }
    }

    /// @notice Challenges a deal's results within its judge window and draws its mediator; the job creator
    /// pays the mediation fee into the deal.
    /// @dev The mediator is `candidates[keccak256(abi.encode(jobCreatorSeed, providerSeed)) % candidates.length]`,
    /// where `candidates` are the mediators both offers list, each once. The job creator committed to `jobCreatorSeed` in
    /// its signed offer (as `mediatorSeedHash`) before any resource provider was matched; the resource provider
    /// chose `providerSeed` when it submitted results, without knowing `jobCreatorSeed`. So neither party can
    /// steer the draw: each fixed its half without knowing the other's. No block data (hash, timestamp,
    /// prevrandao) enters the draw, so a block producer cannot steer it either; all it can do is delay
    /// transactions, which the deadlines already bound. The job creator learns the mediator before deciding to
    /// challenge, so it can choose not to challenge, but it cannot choose another mediator. A job creator must
    /// pick an unguessable seed (the SDK derives it from a signature of its own key). Only the job creator may
    /// challenge. Emits {ResultsChallenged}.
    /// @param dealId The deal.
    /// @param jobCreatorSeed The seed whose keccak256(abi.encode(seed)) is the job offer's `mediatorSeedHash`.
    /// @param candidates The mediator candidates, as in the {DealAgreed} event.
    /// @param providerSeed The resource provider's seed, as in the {ResultsSubmitted} event.
    function challengeResults(
        bytes32 dealId,
        bytes32 jobCreatorSeed,
        address[] calldata candidates,
        bytes32 providerSeed
    ) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.jobCreator);
        _requireState(dealId, deal, DealState.ResultsSubmitted);
        _requireBeforeDeadline(dealId, deal);
        bytes32 agreedSeed =
            keccak256(abi.encode(keccak256(abi.encode(jobCreatorSeed)), keccak256(abi.encodePacked(candidates))));
        if (
            candidates.length == 0 || keccak256(abi.encode(agreedSeed, providerSeed)) != deal.mediatorSeed
        ) revert MediatorSeedMismatch(dealId);
        address mediator =
            candidates[uint256(keccak256(abi.encode(jobCreatorSeed, providerSeed))) % candidates.length];

        _takeFree(deal.jobCreator, deal.mediationFee);
        deal.state = DealState.ResultsChecked;
        deal.deadline = _deadline(deal.mediationTimeout);
        deal.mediator = mediator;
        emit ResultsChallenged(dealId, mediator);
    }

    /// @notice The mediator's ruling on a challenged deal, after re-running the job and comparing result CIDs.
    /// @dev Only the drawn mediator, while the deal is ResultsChecked and its mediation deadline has not passed.
    /// Right results: the resource provider gets price + collateral. Wrong results: the job creator gets
    /// price + the slashed collateral. The mediator gets the fee either way. Emits {MediationRuled}.
    /// @param dealId The deal.
    /// @param resultsCorrect Whether the mediator's result CID equals the one the resource provider submitted.
    function mediate(bytes32 dealId, bool resultsCorrect) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.mediator);
        _requireState(dealId, deal, DealState.ResultsChecked);
        _requireBeforeDeadline(dealId, deal);

        uint256 paid = uint256(deal.price) + deal.collateral;
        if (resultsCorrect) {
            deal.state = DealState.MediationAccepted;
            _freeEscrow[deal.resourceProvider] += paid;
        } else {
            deal.state = DealState.MediationRejected;
            _freeEscrow[deal.jobCreator] += paid;
        }
        _freeEscrow[deal.mediator] += deal.mediationFee;
        emit MediationRuled(dealId, resultsCorrect);
    }

    /// @notice Ends a deal whose resource provider did not submit results in time: the job creator gets its
    /// price back and the provider's collateral. Anyone may send it.
    /// @dev The deal must be Agreed with its submit deadline passed. Emits {DealTimedOut}.
    /// @param dealId The deal.
    function timeoutSubmitResults(bytes32 dealId) external {
        Deal storage deal = _existingDeal(dealId);
        _requireState(dealId, deal, DealState.Agreed);
        _requireAfterDeadline(dealId, deal);
        deal.state = DealState.SubmitTimedOut;
        _freeEscrow[deal.jobCreator] += uint256(deal.price) + deal.collateral;
        emit DealTimedOut(dealId, DealState.SubmitTimedOut);
    }

    /// @notice Ends a challenged deal whose mediator did not rule in time: the job creator gets its price and
    /// fee back, the resource provider its collateral. Anyone may send it.
    /// @dev The deal must be ResultsChecked with its mediation deadline passed. Emits {DealTimedOut}.
    /// @param dealId The deal.
    function timeoutMediation(bytes32 dealId) external {
        Deal storage deal = _existingDeal(dealId);
        _requireState(dealId, deal, DealState.ResultsChecked);
        _requireAfterDeadline(dealId, deal);
        deal.state = DealState.MediationTimedOut;
        _freeEscrow[deal.jobCreator] += uint256(deal.price) + deal.mediationFee;
        _freeEscrow[deal.resourceProvider] += deal.collateral;
        emit DealTimedOut(dealId, DealState.MediationTimedOut);
    }

    /// @notice The stored deal with id `dealId`; a zeroed deal (state None) when there is none.
    /// @param dealId The deal.
    /// @return The deal.
    function getDeal(bytes32 dealId) external view returns (Deal memory) {
        return _deals[dealId];
    }

    /// @notice The EIP-712 digest of a job offer under this contract's domain; also the id of its deal.
    /// @param jobOffer The job offer.
    /// @return The digest that the job creator signs.
    function hashJobOffer(JobOffer calldata jobOffer) public view returns (bytes32) {
        // Two encodings concatenated: every field is one static word, so this equals one abi.encode.
        return _hashTypedDataV4(
            keccak256(
                bytes.concat(
                    abi.encode(
                        JOB_OFFER_TYPEHASH,
                        jobOffer.jobCreator,
                        jobOffer.moduleId,
                        jobOffer.inputsHash,
                        jobOffer.detailsHash,
                        jobOffer.maxPrice,
                        jobOffer.minCollateral,
                        keccak256(abi.encodePacked(jobOffer.mediators))
                    ),
                    abi.encode(
                        jobOffer.mediatorSeedHash,
                        jobOffer.mediationFee,
                        jobOffer.submitTimeout,
                        jobOffer.judgeWindow,
                        jobOffer.mediationTimeout,
                        jobOffer.nonce,
                        jobOffer.expiry
                    )
                )
            )
        );
    }

    /// @notice The EIP-712 digest of a resource offer under this contract's domain.
    /// @param resourceOffer The resource offer.
    /// @return The digest that the resource provider signs.
    function hashResourceOffer(ResourceOffer calldata resourceOffer) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                bytes.concat(
                    abi.encode(
                        RESOURCE_OFFER_TYPEHASH,
                        resourceOffer.resourceProvider,
                        resourceOffer.price,
                        resourceOffer.collateralMultiple,
                        resourceOffer.capacity,
                        keccak256(abi.encodePacked(resourceOffer.mediators))
                    ),
                    abi.encode(
                        resourceOffer.minSubmitTimeout,
                        resourceOffer.maxJudgeWindow,
                        resourceOffer.maxMediationTimeout,
                        resourceOffer.detailsHash,
                        resourceOffer.nonce,
                        resourceOffer.expiry
                    )
                )
            )
        );
    }

    /// @notice The EIP-712 digest that a job creator signs to accept a match: the resource offer `resourceOfferId`
    /// (its EIP-712 digest) for the deal `dealId` (its job offer's digest).
    /// @param dealId The deal, i.e. the job offer's digest.
    /// @param resourceOfferId The resource offer's digest ({hashResourceOffer}).
    /// @return The digest of MatchAcceptance(dealId, resourceOfferId).
    function hashMatchAcceptance(bytes32 dealId, bytes32 resourceOfferId) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(MATCH_ACCEPTANCE_TYPEHASH, dealId, resourceOfferId)));
    }

    /// @notice The EIP-712 digest that a job creator signs to accept a deal's results without gas.
    /// @dev Sign it only after checking the results on chain: they cannot change once submitted.
    /// @param dealId The deal.
    /// @return The digest of ResultsAcceptance(dealId).
    function hashResultsAcceptance(bytes32 dealId) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(RESULTS_ACCEPTANCE_TYPEHASH, dealId)));
    }

    // -------------------------------------------------------------- internal

    function _deposit(address payer, address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        _freeEscrow[account] += amount;
        emit Deposited(account, payer, amount);
        token.safeTransferFrom(payer, address(this), amount);
    }

    /// @dev Moves `amount` of `account`'s free escrow into a deal.
    function _takeFree(address account, uint256 amount) private {
        uint256 available = _freeEscrow[account];
        if (amount > available) revert InsufficientEscrow(account, amount, available);
        _freeEscrow[account] = available - amount;
    }

    function _accept(bytes32 dealId, Deal storage deal, bool optimistic) private {
        deal.state = DealState.ResultsAccepted;
        _freeEscrow[deal.resourceProvider] += uint256(deal.price) + deal.collateral;
        emit ResultsAccepted(dealId, optimistic);
    }

    function _deadline(uint256 duration) private view returns (uint40) {
        return (block.timestamp + duration).toUint40();
    }

    function _window(uint256 duration) private pure returns (uint24) {
        if (duration > type(uint24).max) revert TimeoutOutOfRange(duration, type(uint24).max);
        return uint24(duration);
    }

    function _checkSignedOffer(address signer, bytes32 digest, bytes calldata signature, uint256 expiry)
        private
        view
    {
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) revert InvalidSignature(signer, digest);
        if (block.timestamp > expiry) revert OfferExpired(digest, expiry, block.timestamp);
    }

    function _existingDeal(bytes32 dealId) private view returns (Deal storage deal) {
        deal = _deals[dealId];
        if (deal.state == DealState.None) revert DealNotFound(dealId);
    }

    function _requireCaller(bytes32 dealId, address required) private view {
        if (msg.sender != required) revert UnauthorizedCaller(dealId, msg.sender, required);
    }

    function _requireState(bytes32 dealId, Deal storage deal, DealState required) private view {
        if (deal.state != required) revert InvalidDealState(dealId, deal.state, required);
    }

    function _requireBeforeDeadline(bytes32 dealId, Deal storage deal) private view {
        if (block.timestamp > deal.deadline) revert DeadlinePassed(dealId, deal.deadline, block.timestamp);
    }

    function _requireAfterDeadline(bytes32 dealId, Deal storage deal) private view {
        if (block.timestamp <= deal.deadline) revert DeadlineNotPassed(dealId, deal.deadline, block.timestamp);
    }

    function _isPermit(
        IERC20Permit permitToken,
        address owner,
        uint256 amount,
        uint256 nonce,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private view returns (bool) {
        bytes32 digest = MessageHashUtils.toTypedDataHash(
            permitToken.DOMAIN_SEPARATOR(),
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(this), amount, nonce, deadline))
        );
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, v, r, s);
        return error == ECDSA.RecoverError.NoError && signer == owner;
    }

    /// @dev The job offer's mediators that the resource offer also lists, each once, in the job offer's order
    /// (its first occurrence). Duplicates are dropped so that listing a mediator twice cannot weight the draw.
    function _sharedMediators(address[] calldata wanted, address[] calldata offered)
        private
        pure
        returns (address[] memory shared)
    {
        shared = new address[](wanted.length);
        uint256 count = 0;
        for (uint256 i = 0; i < wanted.length; ++i) {
            address mediator = wanted[i];
            if (!_contains(offered, mediator)) continue;
            bool seen = false;
            for (uint256 k = 0; k < count; ++k) {
                if (shared[k] == mediator) {
                    seen = true;
                    break;
                }
            }
            if (!seen) shared[count++] = mediator;
        }
        assembly ("memory-safe") {
            mstore(shared, count)
        }
    }

    function _contains(address[] calldata list, address item) private pure returns (bool) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == item) return true;
        }
        return false;
    }
}
