// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Lilypad deals
/// @notice Holds escrow in LP, agrees deals from a signed job offer and a signed resource offer, and settles
/// payment and collateral as a deal moves through its states.
/// @dev The EIP-712 types must match src/protocol/eip712.ts field for field. A deal's id is the EIP-712
/// digest of its job offer, so one job offer makes at most one deal. Money moves between two internal
/// ledgers (free and locked escrow); tokens only enter and leave through deposit and withdraw.
contract LilypadDeals is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice What a job creator signs: the job (by module id and inputs hash) and its terms.
    struct JobOffer {
        address jobCreator;
        bytes32 moduleId;
        bytes32 inputsHash;
        uint256 maxPrice;
        address[] mediators;
        uint256 nonce;
        uint256 expiry;
    }

    /// @notice What a resource provider signs: its price, collateral and how many deals the offer may make.
    struct ResourceOffer {
        address resourceProvider;
        uint256 price;
        uint256 collateralMultiple;
        uint256 capacity;
        address[] mediators;
        bytes32 detailsHash;
        uint256 nonce;
        uint256 expiry;
    }

    /// @notice The states of a deal. `None` means no deal has this id.
    enum DealState {
        None,
        Agreed,
        ResultsSubmitted,
        ResultsAccepted
    }

    /// @notice A deal as stored on chain.
    struct Deal {
        address jobCreator;
        address resourceProvider;
        address mediator;
        uint256 price;
        uint256 collateral;
        DealState state;
        uint64 agreedAt;
        string resultCid;
    }

    bytes32 public constant JOB_OFFER_TYPEHASH = keccak256(
        "JobOffer(address jobCreator,bytes32 moduleId,bytes32 inputsHash,uint256 maxPrice,address[] mediators,uint256 nonce,uint256 expiry)"
    );

    bytes32 public constant RESOURCE_OFFER_TYPEHASH = keccak256(
        "ResourceOffer(address resourceProvider,uint256 price,uint256 collateralMultiple,uint256 capacity,address[] mediators,bytes32 detailsHash,uint256 nonce,uint256 expiry)"
    );

    /// @notice The LP token that escrow is held in.
    IERC20 public immutable token;

    mapping(address account => uint256) private _freeEscrow;
    mapping(address account => uint256) private _lockedEscrow;
    mapping(bytes32 dealId => Deal) private _deals;

    /// @notice Whether a job offer (by its EIP-712 digest) has already been agreed into a deal.
    mapping(bytes32 jobOfferDigest => bool) public jobOfferUsed;

    /// @notice How many deals a resource offer (by its EIP-712 digest) has been agreed into.
    mapping(bytes32 resourceOfferDigest => uint256) public resourceOfferUses;

    error ZeroAddress();
    error ZeroAmount();
    error InsufficientEscrow(address account, uint256 needed, uint256 available);
    error InvalidSignature(address signer, bytes32 digest);
    error OfferExpired(bytes32 digest, uint256 expiry, uint256 currentTime);
    error JobOfferAlreadyUsed(bytes32 dealId);
    error ResourceOfferCapacityExhausted(bytes32 digest, uint256 capacity);
    error PriceAboveMaximum(uint256 price, uint256 maxPrice);
    error MediatorNotShared(address mediator);
    error DealNotFound(bytes32 dealId);
    error UnauthorizedCaller(bytes32 dealId, address caller, address required);
    error InvalidDealState(bytes32 dealId, DealState current, DealState required);
    error EmptyResultCid(bytes32 dealId);

    event Deposited(address indexed account, address indexed payer, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event DealAgreed(
        bytes32 indexed dealId,
        address indexed jobCreator,
        address indexed resourceProvider,
        address mediator,
        uint256 price,
        uint256 collateral
    );
    event ResultsSubmitted(bytes32 indexed dealId, string resultCid);
    event ResultsAccepted(bytes32 indexed dealId);

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
        _deposit(msg.sender, amount);
    }

    /// @notice Moves `amount` LP from the caller into `account`'s free escrow.
    /// @dev Lets a faucet or a sponsor fund a job creator that has no gas. Emits {Deposited}.
    /// @param account The account whose free escrow is credited.
    /// @param amount The amount of LP (wei) to deposit.
    function depositFor(address account, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _deposit(account, amount);
    }

    /// @notice Sends `amount` LP of the caller's free escrow back to the caller.
    /// @dev Locked escrow (payment or collateral of open deals) cannot be withdrawn. Emits {Withdrawn}.
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

    /// @notice The escrow of `account` that is locked in open deals as payment or collateral.
    /// @param account The account to look up.
    /// @return The locked escrow in LP (wei).
    function lockedBalance(address account) external view returns (uint256) {
        return _lockedEscrow[account];
    }

    // ----------------------------------------------------------------- deals

    /// @notice Agrees a deal between a signed job offer and a signed resource offer. Anyone may call it, so
    /// the job creator needs no gas.
    /// @dev Locks the price (resourceOffer.price) from the job creator's free escrow and the collateral
    /// (price × collateralMultiple) from the resource provider's. Emits {DealAgreed}.
    /// @param jobOffer The job creator's offer.
    /// @param jobCreatorSignature The job creator's EIP-712 signature of `jobOffer` (or an ERC-1271 one).
    /// @param resourceOffer The resource provider's offer.
    /// @param resourceProviderSignature The resource provider's EIP-712 signature of `resourceOffer`.
    /// @param mediator The mediator for this deal; it must appear in both offers' mediator lists.
    /// @return dealId The EIP-712 digest of `jobOffer`.
    function agreeDeal(
        JobOffer calldata jobOffer,
        bytes calldata jobCreatorSignature,
        ResourceOffer calldata resourceOffer,
        bytes calldata resourceProviderSignature,
        address mediator
    ) external returns (bytes32 dealId) {
        dealId = hashJobOffer(jobOffer);
        bytes32 resourceOfferDigest = hashResourceOffer(resourceOffer);

        _checkSignedOffer(jobOffer.jobCreator, dealId, jobCreatorSignature, jobOffer.expiry);
        _checkSignedOffer(
            resourceOffer.resourceProvider, resourceOfferDigest, resourceProviderSignature, resourceOffer.expiry
        );
        if (jobOfferUsed[dealId]) revert JobOfferAlreadyUsed(dealId);
        if (resourceOfferUses[resourceOfferDigest] >= resourceOffer.capacity) {
            revert ResourceOfferCapacityExhausted(resourceOfferDigest, resourceOffer.capacity);
        }
        if (resourceOffer.price > jobOffer.maxPrice) revert PriceAboveMaximum(resourceOffer.price, jobOffer.maxPrice);
        if (!_contains(jobOffer.mediators, mediator) || !_contains(resourceOffer.mediators, mediator)) {
            revert MediatorNotShared(mediator);
        }

        uint256 price = resourceOffer.price;
        uint256 collateral = price * resourceOffer.collateralMultiple;
        jobOfferUsed[dealId] = true;
        resourceOfferUses[resourceOfferDigest] += 1;
        _lock(jobOffer.jobCreator, price);
        _lock(resourceOffer.resourceProvider, collateral);
        _deals[dealId] = Deal({
            jobCreator: jobOffer.jobCreator,
            resourceProvider: resourceOffer.resourceProvider,
            mediator: mediator,
            price: price,
            collateral: collateral,
            state: DealState.Agreed,
            agreedAt: uint64(block.timestamp),
            resultCid: ""
        });
        emit DealAgreed(dealId, jobOffer.jobCreator, resourceOffer.resourceProvider, mediator, price, collateral);
    }

    /// @notice Posts the CID of the result directory of a deal.
    /// @dev Only the deal's resource provider; the deal must be Agreed. Emits {ResultsSubmitted}.
    /// @param dealId The deal.
    /// @param resultCid The IPFS CID of the result directory.
    function submitResults(bytes32 dealId, string calldata resultCid) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.resourceProvider);
        _requireState(dealId, deal, DealState.Agreed);
        if (bytes(resultCid).length == 0) revert EmptyResultCid(dealId);

        deal.state = DealState.ResultsSubmitted;
        deal.resultCid = resultCid;
        emit ResultsSubmitted(dealId, resultCid);
    }

    /// @notice Accepts the results of a deal: pays the resource provider and releases its collateral.
    /// @dev Only the deal's job creator; the deal must be ResultsSubmitted. The price moves from the job
    /// creator's locked escrow to the resource provider's free escrow, and the collateral is unlocked.
    /// Emits {ResultsAccepted}.
    /// @param dealId The deal.
    function acceptResults(bytes32 dealId) external {
        Deal storage deal = _existingDeal(dealId);
        _requireCaller(dealId, deal.jobCreator);
        _requireState(dealId, deal, DealState.ResultsSubmitted);

        deal.state = DealState.ResultsAccepted;
        _pay(deal.jobCreator, deal.resourceProvider, deal.price);
        _unlock(deal.resourceProvider, deal.collateral);
        emit ResultsAccepted(dealId);
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
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    JOB_OFFER_TYPEHASH,
                    jobOffer.jobCreator,
                    jobOffer.moduleId,
                    jobOffer.inputsHash,
                    jobOffer.maxPrice,
                    _hashAddresses(jobOffer.mediators),
                    jobOffer.nonce,
                    jobOffer.expiry
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
                abi.encode(
                    RESOURCE_OFFER_TYPEHASH,
                    resourceOffer.resourceProvider,
                    resourceOffer.price,
                    resourceOffer.collateralMultiple,
                    resourceOffer.capacity,
                    _hashAddresses(resourceOffer.mediators),
                    resourceOffer.detailsHash,
                    resourceOffer.nonce,
                    resourceOffer.expiry
                )
            )
        );
    }

    // -------------------------------------------------------------- internal

    function _deposit(address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        _freeEscrow[account] += amount;
        emit Deposited(account, msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Moves `amount` of `account`'s escrow from free to locked.
    function _lock(address account, uint256 amount) private {
        uint256 available = _freeEscrow[account];
        if (amount > available) revert InsufficientEscrow(account, amount, available);
        _freeEscrow[account] = available - amount;
        _lockedEscrow[account] += amount;
    }

    /// @dev Moves `amount` of `account`'s escrow from locked back to free.
    function _unlock(address account, uint256 amount) private {
        _lockedEscrow[account] -= amount;
        _freeEscrow[account] += amount;
    }

    /// @dev Moves `amount` from `from`'s locked escrow to `to`'s free escrow.
    function _pay(address from, address to, uint256 amount) private {
        _lockedEscrow[from] -= amount;
        _freeEscrow[to] += amount;
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

    /// @dev EIP-712 encodes an array as the keccak256 of its elements' 32-byte encodings, concatenated.
    function _hashAddresses(address[] calldata addresses) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(addresses));
    }

    function _contains(address[] calldata addresses, address wanted) private pure returns (bool) {
        for (uint256 i = 0; i < addresses.length; ++i) {
            if (addresses[i] == wanted) return true;
        }
        return false;
    }
}
