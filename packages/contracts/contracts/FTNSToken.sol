// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title FTNS, the PRSM network token.
/// @notice ERC-20 with EIP-2612 permit and ERC-5805 votes (timestamp clock). The whole supply is
/// minted once, in the constructor: to the treasury (the governance timelock) and, on development
/// networks only, to a faucet. There is no other mint path.
contract FTNSToken is ERC20, ERC20Permit, ERC20Votes {
    error ZeroTreasury();

    constructor(address treasury, uint256 treasurySupply, address faucet, uint256 faucetSupply)
        ERC20("PRSM FTNS", "FTNS")
        ERC20Permit("PRSM FTNS")
    {
        if (treasury == address(0)) revert ZeroTreasury();
        _mint(treasury, treasurySupply);
        if (faucetSupply > 0) _mint(faucet, faucetSupply);
    }

    /// @dev Votes are checkpointed by timestamp so governance periods are in seconds on any chain.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
