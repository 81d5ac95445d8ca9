// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Lilypad service registry
/// @notice Where the services of a network make themselves known: solvers (with their URL), mediators and
/// resource providers (with a URL or a metadata CID). Anyone registers themselves; nobody can register or
/// remove anyone else. Being listed is not being trusted: job creators and resource providers still choose
/// which mediators and solver they accept (as the original LilypadUsers contract left to its users too).
contract LilypadRegistry {
    /// @notice The kinds of service.
    enum ServiceKind {
        Solver,
        Mediator,
        ResourceProvider
    }

    mapping(ServiceKind kind => address[]) private _members;
    /// 1-based position in `_members[kind]`; 0 when not registered.
    mapping(ServiceKind kind => mapping(address account => uint256)) private _positions;
    mapping(ServiceKind kind => mapping(address account => string)) private _urls;

    error EmptyUrl();
    error NotRegistered(address account, ServiceKind kind);

    event ServiceRegistered(address indexed account, ServiceKind indexed kind, string url);
    event ServiceUnregistered(address indexed account, ServiceKind indexed kind);

    /// @notice Registers the caller as a service of `kind` at `url`, or updates its URL.
    /// @dev Emits {ServiceRegistered}.
    /// @param kind The kind of service.
    /// @param url Where it is reached (a solver's HTTP URL) or described (a metadata URL or CID).
    function register(ServiceKind kind, string calldata url) external {
        if (bytes(url).length == 0) revert EmptyUrl();
        if (_positions[kind][msg.sender] == 0) {
            _members[kind].push(msg.sender);
            _positions[kind][msg.sender] = _members[kind].length;
        }
        _urls[kind][msg.sender] = url;
        emit ServiceRegistered(msg.sender, kind, url);
    }

    /// @notice Removes the caller from the services of `kind`.
    /// @dev Swaps the last member into the caller's place. Emits {ServiceUnregistered}.
    /// @param kind The kind of service.
    function unregister(ServiceKind kind) external {
        uint256 position = _positions[kind][msg.sender];
        if (position == 0) revert NotRegistered(msg.sender, kind);
        address[] storage members = _members[kind];
        address last = members[members.length - 1];
        members[position - 1] = last;
        _positions[kind][last] = position;
        members.pop();
        delete _positions[kind][msg.sender];
        delete _urls[kind][msg.sender];
        emit ServiceUnregistered(msg.sender, kind);
    }

    /// @notice Every registered service of `kind` and its URL.
    /// @param kind The kind of service.
    /// @return accounts The services' accounts.
    /// @return urls Their URLs, in the same order.
    function services(ServiceKind kind) external view returns (address[] memory accounts, string[] memory urls) {
        accounts = _members[kind];
        urls = new string[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            urls[i] = _urls[kind][accounts[i]];
        }
    }

    /// @notice Whether `account` is registered as a service of `kind`.
    /// @param account The account.
    /// @param kind The kind of service.
    /// @return True when registered.
    function isRegistered(address account, ServiceKind kind) external view returns (bool) {
        return _positions[kind][account] != 0;
    }
}
