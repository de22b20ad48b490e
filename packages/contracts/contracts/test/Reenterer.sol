// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test-only malicious receiver: when it receives tokens it re-enters `target` with a
/// stored call and records the outcome (it swallows the failure so the outer call can finish).
contract Reenterer {
    address public target;
    bytes public attack;
    uint256 public attempts;
    bool public lastOk;
    bytes public lastError;

    function setAttack(address target_, bytes calldata attack_) external {
        target = target_;
        attack = attack_;
        attempts = 0;
        lastOk = false;
        delete lastError;
    }

    function exec(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function onTokenReceived(address, uint256) external {
        if (target == address(0) || attempts > 0) return;
        attempts += 1;
        (bool ok, bytes memory ret) = target.call(attack);
        lastOk = ok;
        lastError = ret;
    }
}
