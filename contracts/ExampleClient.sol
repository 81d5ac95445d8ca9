// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ILilypadJobResultsReceiver} from "./LilypadOnChainJobCreator.sol";

interface ILilypadOnChainJobCreator {
    function runModuleWithDefaultMediators(string calldata name, string calldata params)
        external
        payable
        returns (uint256);
    function claimRefund(address payable to) external;
}

/// @title Example client
/// @notice A contract that runs cowsay on Lilypad and keeps the results, as in the talk's example.
contract ExampleClient is ILilypadJobResultsReceiver {
    struct Result {
        uint256 jobID;
        string cid;
    }

    /// @notice The on-chain job creator this client uses.
    address public immutable jobCreator;
    /// @notice Who deployed this client; refunds of its jobs go to it.
    address public immutable owner;
    /// @notice The results received so far.
    Result[] public results;

    error NotJobCreator(address caller);
    error NotOwner(address caller);

    event ReceivedJobResults(uint256 jobID, string cid);

    /// @param lilypadJobCreator The on-chain job creator.
    constructor(address lilypadJobCreator) {
        jobCreator = lilypadJobCreator;
        owner = msg.sender;
    }

    /// @notice Runs cowsay with `message`, paying the job creator's price in the chain's coin.
    /// @param message What the cow says.
    /// @return The job's id.
    function runCowsay(string calldata message) external payable returns (uint256) {
        return ILilypadOnChainJobCreator(jobCreator).runModuleWithDefaultMediators{value: msg.value}(
            "cowsay:v0.0.1", string.concat("Message=", message)
        );
    }

    /// @notice Called by the job creator with a job's result CID.
    function receiveJobResults(uint256 jobID, string calldata cid) external {
        if (msg.sender != jobCreator) revert NotJobCreator(msg.sender);
        results.push(Result(jobID, cid));
        emit ReceivedJobResults(jobID, cid);
    }

    /// @notice Sends the refunds of this client's jobs that could not run (it takes no coin itself) to its owner.
    function claimRefund() external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        ILilypadOnChainJobCreator(jobCreator).claimRefund(payable(owner));
    }

    /// @notice How many results have arrived.
    function resultCount() external view returns (uint256) {
        return results.length;
    }
}
