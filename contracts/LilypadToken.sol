// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Lilypad token (LP)
/// @notice The ERC20 token that job creators pay in and resource providers post as collateral.
/// @dev ERC20Permit lets a holder approve by signature, so a job creator without gas can still fund a deal.
/// The owner mints; on a local or test network the owner is the faucet.
contract LilypadToken is ERC20, ERC20Permit, Ownable {
    /// @param initialOwner The account allowed to mint (the deployer or a faucet).
    constructor(address initialOwner) ERC20("Lilypad", "LP") ERC20Permit("Lilypad") Ownable(initialOwner) {}

    /// @notice Creates `amount` tokens and assigns them to `to`.
    /// @dev Only the owner may mint. Emits {Transfer} from the zero address.
    /// @param to The account that receives the new tokens.
    /// @param amount The number of tokens (in wei, 18 decimals) to create.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
