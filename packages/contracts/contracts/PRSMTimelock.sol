// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title PRSM timelock: OpenZeppelin's TimelockController, unchanged. It owns the parameter
/// registry, holds the treasury and is the only account that can slash stakes.
contract PRSMTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
