// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";

/// @title Provider staking registry.
/// @notice A node stakes FTNS to register. Registration binds the node's libp2p PeerId to the
/// staking wallet: `binding` is the node key's signature over the binding message (see the
/// TypeScript `peerBindingMessage`). Ed25519 node keys cannot be checked cheaply on chain, so the
/// contract stores the binding and every node verifies it off chain before trusting an entry; a
/// PeerId may therefore be claimed by several wallets, and only one with a valid binding counts.
/// Stake leaves through an unbonding period. Only governance (the timelock) can slash, and every
/// slash records an evidence hash.
contract ProviderRegistry is ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct Provider {
        uint256 stake; // bonded stake
        uint256 unbonding; // stake waiting to be withdrawn
        uint64 unbondingEnd; // when `unbonding` can be withdrawn
        bool registered;
        bool validator; // wants to validate; counts only with at least the validator stake
        bytes peerId; // libp2p PeerId (multihash bytes)
        bytes binding; // node-key signature binding peerId to this wallet
    }

    IERC20 public immutable token;
    ParameterRegistry public immutable parameters;
    /// @notice The timelock: the only slasher; receives slashed stake.
    address public immutable governance;

    mapping(address provider => Provider) private _providers;
    mapping(bytes32 peerIdHash => address[]) private _byPeer;
    address[] private _all;
    mapping(address provider => bool) private _listed;

    event Registered(address indexed provider, bytes peerId, bytes binding, bool validator);
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed provider, uint256 amount, uint64 unbondingEnd);
    event Withdrawn(address indexed provider, uint256 amount);
    event ValidatorFlagSet(address indexed provider, bool validator);
    event Slashed(address indexed provider, uint256 amount, bytes32 indexed evidenceHash);

    error NotGovernance();
    error AlreadyRegistered();
    error NotRegistered();
    error BelowMinimumStake(uint256 stake, uint256 minimum);
    error EmptyPeerId();
    error ZeroAmount();
    error InsufficientStake();
    error StillUnbonding(uint64 unbondingEnd);
    error NothingToWithdraw();

    constructor(IERC20 token_, ParameterRegistry parameters_, address governance_) {
        token = token_;
        parameters = parameters_;
        governance = governance_;
    }

    /// @notice Registers the caller with `amount` of stake (pulled with transferFrom).
    function register(bytes calldata peerId, bytes calldata binding, uint256 amount, bool validator)
        external
        nonReentrant
    {
        if (peerId.length == 0) revert EmptyPeerId();
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered();
        uint256 stake = p.stake + amount;
        uint256 minimum = parameters.minStake();
        if (stake < minimum || stake == 0) revert BelowMinimumStake(stake, minimum);
        p.stake = stake;
        p.registered = true;
        p.validator = validator;
        p.peerId = peerId;
        p.binding = binding;
        _byPeer[keccak256(peerId)].push(msg.sender);
        if (!_listed[msg.sender]) {
            _listed[msg.sender] = true;
            _all.push(msg.sender);
        }
        emit Registered(msg.sender, peerId, binding, validator);
        emit StakeAdded(msg.sender, amount, stake);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Adds bonded stake to a registered provider.
    function addStake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered();
        p.stake += amount;
        emit StakeAdded(msg.sender, amount, p.stake);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function setValidator(bool validator) external {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered();
        p.validator = validator;
        emit ValidatorFlagSet(msg.sender, validator);
    }

    /// @notice Starts unbonding `amount`. The rest must stay at or above the minimum stake, or be
    /// zero, which deregisters the provider. A new request restarts the unbonding clock.
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered();
        if (amount > p.stake) revert InsufficientStake();
        uint256 rest = p.stake - amount;
        uint256 minimum = parameters.minStake();
        if (rest != 0 && rest < minimum) revert BelowMinimumStake(rest, minimum);
        p.stake = rest;
        p.unbonding += amount;
        p.unbondingEnd = uint64(block.timestamp + parameters.unbondingPeriod());
        if (rest == 0) {
            p.registered = false;
            p.validator = false;
            _removeFromPeer(keccak256(p.peerId), msg.sender);
        }
        emit UnbondRequested(msg.sender, amount, p.unbondingEnd);
    }

    /// @notice Withdraws stake whose unbonding period has ended.
    function withdraw() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < p.unbondingEnd) revert StillUnbonding(p.unbondingEnd);
        p.unbonding = 0;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Slashes up to `amount` from a provider's bonded then unbonding stake and sends it to
    /// the treasury (governance). Governance only; `evidenceHash` identifies the evidence.
    function slash(address provider, uint256 amount, bytes32 evidenceHash) external nonReentrant {
        if (msg.sender != governance) revert NotGovernance();
        Provider storage p = _providers[provider];
        uint256 fromStake = amount < p.stake ? amount : p.stake;
        p.stake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < p.unbonding ? rest : p.unbonding;
        p.unbonding -= fromUnbonding;
        uint256 total = fromStake + fromUnbonding;
        if (p.registered && p.stake < parameters.minStake()) {
            // Below the minimum, the provider is no longer registered; its remaining stake unbonds.
            p.unbonding += p.stake;
            p.stake = 0;
            p.unbondingEnd = uint64(block.timestamp + parameters.unbondingPeriod());
            p.registered = false;
            p.validator = false;
            _removeFromPeer(keccak256(p.peerId), provider);
        }
        emit Slashed(provider, total, evidenceHash);
        if (total > 0) token.safeTransfer(governance, total);
    }

    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice Registered wallets that claim this PeerId (verify their bindings off chain).
    function providersOfPeer(bytes calldata peerId) external view returns (address[] memory) {
        return _byPeer[keccak256(peerId)];
    }

    function isValidator(address provider) public view returns (bool) {
        Provider storage p = _providers[provider];
        return p.registered && p.validator && p.stake >= parameters.validatorStake();
    }

    /// @notice Every wallet that has ever registered (registered or not now).
    function providerCount() external view returns (uint256) {
        return _all.length;
    }

    function providerAt(uint256 index) external view returns (address) {
        return _all[index];
    }

    /// @notice The current validator set: registered, flagged, with at least the validator stake.
    function validators() external view returns (address[] memory set, bytes[] memory peerIds, uint256[] memory stakes) {
        uint256 n = 0;
        for (uint256 i = 0; i < _all.length; ++i) {
            if (isValidator(_all[i])) ++n;
        }
        set = new address[](n);
        peerIds = new bytes[](n);
        stakes = new uint256[](n);
        uint256 j = 0;
        for (uint256 i = 0; i < _all.length; ++i) {
            address a = _all[i];
            if (isValidator(a)) {
                set[j] = a;
                peerIds[j] = _providers[a].peerId;
                stakes[j] = _providers[a].stake;
                ++j;
            }
        }
    }

    function _removeFromPeer(bytes32 peerHash, address provider) private {
        address[] storage list = _byPeer[peerHash];
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == provider) {
                list[i] = list[list.length - 1];
                list.pop();
                return;
            }
        }
    }
}
