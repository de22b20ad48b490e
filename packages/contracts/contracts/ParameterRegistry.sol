// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Network parameters set by governance.
/// @notice A key/value store of uint256 parameters owned by the governance timelock. Keys are
/// `keccak256(name)` of a parameter name (e.g. keccak256("networkFeeBps")). Every change bumps
/// `version`, so a node can poll one word to notice changes and then re-read what it needs.
contract ParameterRegistry is Ownable {
    bytes32 public constant NETWORK_FEE_BPS = keccak256("networkFeeBps");
    bytes32 public constant ROYALTY_CAP_BPS = keccak256("royaltyCapBps");
    bytes32 public constant MIN_STAKE = keccak256("minStake");
    bytes32 public constant VALIDATOR_STAKE = keccak256("validatorStake");
    bytes32 public constant UNBONDING_PERIOD = keccak256("unbondingPeriod");
    bytes32 public constant HALT_QUORUM_BPS = keccak256("haltQuorumBps");

    uint256 public constant BPS = 10_000;

    mapping(bytes32 key => uint256) private _values;
    mapping(bytes32 key => bool) private _isSet;
    bytes32[] private _keys;

    /// @notice Incremented on every change.
    uint64 public version;

    event ParameterSet(bytes32 indexed key, uint256 oldValue, uint256 newValue, uint64 version);

    error LengthMismatch();
    error OutOfBounds(bytes32 key, uint256 value);

    constructor(address owner_, bytes32[] memory keys_, uint256[] memory values_) Ownable(owner_) {
        _setMany(keys_, values_);
    }

    /// @notice Sets one parameter (governance only).
    function set(bytes32 key, uint256 value) external onlyOwner {
        _set(key, value);
        _checkInvariants();
    }

    /// @notice Sets several parameters atomically (governance only).
    function setMany(bytes32[] calldata keys_, uint256[] calldata values_) external onlyOwner {
        _setMany(keys_, values_);
    }

    function get(bytes32 key) external view returns (uint256) {
        return _values[key];
    }

    function getMany(bytes32[] calldata keys_) external view returns (uint256[] memory values_) {
        values_ = new uint256[](keys_.length);
        for (uint256 i = 0; i < keys_.length; ++i) {
            values_[i] = _values[keys_[i]];
        }
    }

    /// @notice Every key that has ever been set, with its current value, and the version.
    function all() external view returns (bytes32[] memory keys_, uint256[] memory values_, uint64 version_) {
        keys_ = _keys;
        values_ = new uint256[](keys_.length);
        for (uint256 i = 0; i < keys_.length; ++i) {
            values_[i] = _values[keys_[i]];
        }
        version_ = version;
    }

    function networkFeeBps() external view returns (uint256) {
        return _values[NETWORK_FEE_BPS];
    }

    function royaltyCapBps() external view returns (uint256) {
        return _values[ROYALTY_CAP_BPS];
    }

    function minStake() external view returns (uint256) {
        return _values[MIN_STAKE];
    }

    function validatorStake() external view returns (uint256) {
        return _values[VALIDATOR_STAKE];
    }

    function unbondingPeriod() external view returns (uint256) {
        return _values[UNBONDING_PERIOD];
    }

    function _setMany(bytes32[] memory keys_, uint256[] memory values_) private {
        if (keys_.length != values_.length) revert LengthMismatch();
        for (uint256 i = 0; i < keys_.length; ++i) {
            _set(keys_[i], values_[i]);
        }
        _checkInvariants();
    }

    function _set(bytes32 key, uint256 value) private {
        if ((key == NETWORK_FEE_BPS || key == ROYALTY_CAP_BPS || key == HALT_QUORUM_BPS) && value > BPS) {
            revert OutOfBounds(key, value);
        }
        if (!_isSet[key]) {
            _isSet[key] = true;
            _keys.push(key);
        }
        uint256 old = _values[key];
        _values[key] = value;
        unchecked {
            ++version;
        }
        emit ParameterSet(key, old, value, version);
    }

    /// @dev Fee plus royalty cap must leave the provider a non-negative share; the validator stake
    /// must be at least the provider stake.
    function _checkInvariants() private view {
        uint256 fee = _values[NETWORK_FEE_BPS];
        uint256 cap = _values[ROYALTY_CAP_BPS];
        if (fee + cap > BPS) revert OutOfBounds(ROYALTY_CAP_BPS, cap);
        if (_values[VALIDATOR_STAKE] < _values[MIN_STAKE]) {
            revert OutOfBounds(VALIDATOR_STAKE, _values[VALIDATOR_STAKE]);
        }
    }
}
