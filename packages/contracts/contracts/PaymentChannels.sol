// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ParameterRegistry} from "./ParameterRegistry.sol";

/// @title Unidirectional FTNS payment channels with creator royalties.
/// @notice A payer escrows a deposit for a payee until an expiry. Off chain, the payer signs
/// EIP-712 vouchers `Voucher(bytes32 channel, uint256 cumulativeAmount, bytes32 royaltyRoot)`, each
/// carrying the running total owed. `royaltyRoot = keccak256(abi.encode(address[] creators,
/// uint256[] amounts))` commits to a cumulative per-creator royalty table (creators strictly
/// ascending). Before expiry the payee claims the newest voucher (the channel stays open); the
/// claim pays, out of the increase since the last claim, each creator's royalty increase, the
/// network fee to the treasury, and the rest to the payee. From expiry on, the payer reclaims what
/// was never claimed. The payee may also close early, refunding the unclaimed rest to the payer.
contract PaymentChannels is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct Channel {
        address payer;
        uint64 expiry;
        uint16 royaltyCapBps; // the royalty cap when the channel was opened; fixed for its life
        bool closed;
        address payee;
        uint256 deposit; // total ever deposited
        uint256 claimed; // cumulative amount claimed by the payee
    }

    /// @notice A voucher as submitted on chain: the signed cumulative amount, the cumulative
    /// royalty table it commits to, and the payer's 65-byte signature.
    struct SignedVoucher {
        uint256 cumulativeAmount;
        address[] creators;
        uint256[] royalties;
        bytes signature;
    }

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channel,uint256 cumulativeAmount,bytes32 royaltyRoot)");
    uint256 private constant BPS = 10_000;

    IERC20 public immutable token;
    ParameterRegistry public immutable parameters;
    /// @notice Receives the network fee (the governance timelock).
    address public immutable treasury;

    mapping(bytes32 id => Channel) private _channels;
    mapping(bytes32 id => mapping(address creator => uint256)) private _royaltyPaid;

    event ChannelOpened(
        bytes32 indexed id, address indexed payer, address indexed payee, uint256 deposit, uint64 expiry, uint16 royaltyCapBps
    );
    event ChannelToppedUp(bytes32 indexed id, uint256 amount, uint256 deposit);
    event ChannelExtended(bytes32 indexed id, uint64 expiry);
    event Claimed(
        bytes32 indexed id, uint256 cumulativeAmount, uint256 paid, uint256 fee, uint256 royalties, uint256 toPayee
    );
    event RoyaltyPaid(bytes32 indexed id, address indexed creator, uint256 amount, uint256 cumulative);
    event ChannelClosed(bytes32 indexed id, uint256 refunded);

    error ChannelExists();
    error UnknownChannel();
    error ChannelIsClosed();
    error NotPayer();
    error NotPayee();
    error ZeroAddress();
    error ZeroAmount();
    error ExpiryInPast();
    error ExpiryNotLater();
    error Expired(uint64 expiry);
    error NotExpired(uint64 expiry);
    error NotIncreasing(uint256 claimed, uint256 cumulativeAmount);
    error OverDeposit(uint256 deposit, uint256 cumulativeAmount);
    error BadSignature();
    error RoyaltyTableInvalid();
    error RoyaltyOverCap(uint256 total, uint256 cap);
    error RoyaltyDecreased(address creator, uint256 paid, uint256 cumulative);
    error RoyaltyOverPayment(uint256 royalties, uint256 paid);

    constructor(IERC20 token_, ParameterRegistry parameters_, address treasury_)
        EIP712("PRSM PaymentChannels", "1")
    {
        if (treasury_ == address(0)) revert ZeroAddress();
        token = token_;
        parameters = parameters_;
        treasury = treasury_;
    }

    /// @notice The channel id for a payer, payee and salt (the payer picks the salt).
    function channelId(address payer, address payee, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, payee, salt));
    }

    /// @notice Opens a channel from the caller to `payee`, pulling `deposit` with transferFrom.
    function open(address payee, uint256 deposit, uint64 expiry, bytes32 salt)
        external
        nonReentrant
        returns (bytes32 id)
    {
        id = _open(payee, deposit, expiry, salt);
        token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @notice Same as `open`, approving the deposit with an EIP-2612 permit in the same call.
    function openWithPermit(
        address payee,
        uint256 deposit,
        uint64 expiry,
        bytes32 salt,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 id) {
        // A front-run permit only spends the signature; the allowance is then already in place.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {} catch {}
        id = _open(payee, deposit, expiry, salt);
        token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @notice Adds to the deposit (payer only, before expiry).
    function topUp(bytes32 id, uint256 amount) external nonReentrant {
        Channel storage c = _live(id);
        if (msg.sender != c.payer) revert NotPayer();
        if (amount == 0) revert ZeroAmount();
        if (block.timestamp >= c.expiry) revert Expired(c.expiry);
        c.deposit += amount;
        emit ChannelToppedUp(id, amount, c.deposit);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Moves the expiry later (payer only, before expiry).
    function extend(bytes32 id, uint64 expiry) external {
        Channel storage c = _live(id);
        if (msg.sender != c.payer) revert NotPayer();
        if (block.timestamp >= c.expiry) revert Expired(c.expiry);
        if (expiry <= c.expiry) revert ExpiryNotLater();
        c.expiry = expiry;
        emit ChannelExtended(id, expiry);
    }

    /// @notice Claims a voucher (payee only, before expiry). `v.creators` (strictly ascending) and
    /// `v.royalties` are the cumulative royalty table the payer committed to in the voucher.
    function claim(bytes32 id, SignedVoucher calldata v) external nonReentrant {
        Channel storage c = _live(id);
        if (msg.sender != c.payee) revert NotPayee();
        if (block.timestamp >= c.expiry) revert Expired(c.expiry);
        _claim(id, c, v);
    }

    /// @notice Claims a final voucher if it adds anything, then refunds the unclaimed rest to the
    /// payer and closes the channel (payee only). A voucher whose `cumulativeAmount` equals the
    /// claimed total closes without a claim (its other fields are ignored).
    function close(bytes32 id, SignedVoucher calldata v) external nonReentrant {
        Channel storage c = _live(id);
        if (msg.sender != c.payee) revert NotPayee();
        if (v.cumulativeAmount != c.claimed) {
            if (block.timestamp >= c.expiry) revert Expired(c.expiry);
            _claim(id, c, v);
        }
        _closeAndRefund(id, c);
    }

    /// @notice After expiry, refunds the unclaimed rest to the payer and closes the channel.
    function reclaim(bytes32 id) external nonReentrant {
        Channel storage c = _live(id);
        if (msg.sender != c.payer) revert NotPayer();
        if (block.timestamp < c.expiry) revert NotExpired(c.expiry);
        _closeAndRefund(id, c);
    }

    function getChannel(bytes32 id) external view returns (Channel memory) {
        return _channels[id];
    }

    /// @notice Cumulative royalties paid to `creator` from channel `id`.
    function royaltyPaid(bytes32 id, address creator) external view returns (uint256) {
        return _royaltyPaid[id][creator];
    }

    /// @notice The EIP-712 digest a payer signs for a voucher.
    function voucherDigest(bytes32 id, uint256 cumulativeAmount, bytes32 royaltyRoot) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, id, cumulativeAmount, royaltyRoot)));
    }

    /// @notice The commitment to a cumulative royalty table.
    function royaltyCommitment(address[] calldata creators, uint256[] calldata royalties)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(creators, royalties));
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _open(address payee, uint256 deposit, uint64 expiry, bytes32 salt) private returns (bytes32 id) {
        if (payee == address(0)) revert ZeroAddress();
        if (deposit == 0) revert ZeroAmount();
        if (expiry <= block.timestamp) revert ExpiryInPast();
        id = channelId(msg.sender, payee, salt);
        if (_channels[id].payer != address(0)) revert ChannelExists();
        uint256 cap = parameters.royaltyCapBps();
        _channels[id] = Channel({
            payer: msg.sender,
            expiry: expiry,
            royaltyCapBps: uint16(cap),
            closed: false,
            payee: payee,
            deposit: deposit,
            claimed: 0
        });
        emit ChannelOpened(id, msg.sender, payee, deposit, expiry, uint16(cap));
    }

    function _claim(bytes32 id, Channel storage c, SignedVoucher calldata v) private {
        // Checks.
        uint256 claimed = c.claimed;
        uint256 cumulativeAmount = v.cumulativeAmount;
        if (cumulativeAmount <= claimed) revert NotIncreasing(claimed, cumulativeAmount);
        if (cumulativeAmount > c.deposit) revert OverDeposit(c.deposit, cumulativeAmount);
        _checkVoucher(id, c, v);

        // Effects.
        uint256 paid = cumulativeAmount - claimed;
        c.claimed = cumulativeAmount;
        (uint256[] memory deltas, uint256 royaltyTotal) = _recordRoyalties(id, v);
        if (royaltyTotal > paid) revert RoyaltyOverPayment(royaltyTotal, paid);
        uint256 fee = (paid * parameters.networkFeeBps()) / BPS;
        if (fee > paid - royaltyTotal) fee = paid - royaltyTotal;
        uint256 toPayee = paid - royaltyTotal - fee;
        emit Claimed(id, cumulativeAmount, paid, fee, royaltyTotal, toPayee);

        // Interactions.
        for (uint256 i = 0; i < deltas.length; ++i) {
            if (deltas[i] > 0) {
                emit RoyaltyPaid(id, v.creators[i], deltas[i], v.royalties[i]);
                token.safeTransfer(v.creators[i], deltas[i]);
            }
        }
        if (fee > 0) token.safeTransfer(treasury, fee);
        if (toPayee > 0) token.safeTransfer(c.payee, toPayee);
    }

    /// @dev Signature by the payer over the voucher, canonical table, total within the channel's cap.
    function _checkVoucher(bytes32 id, Channel storage c, SignedVoucher calldata v) private view {
        address[] calldata creators = v.creators;
        uint256[] calldata royalties = v.royalties;
        if (creators.length != royalties.length) revert RoyaltyTableInvalid();
        bytes32 digest = voucherDigest(id, v.cumulativeAmount, keccak256(abi.encode(creators, royalties)));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v.signature);
        if (err != ECDSA.RecoverError.NoError || signer != c.payer) revert BadSignature();
        uint256 total = 0;
        address previous = address(0);
        for (uint256 i = 0; i < creators.length; ++i) {
            // Strictly ascending: no duplicates, no zero address, one canonical table.
            if (creators[i] <= previous) revert RoyaltyTableInvalid();
            previous = creators[i];
            total += royalties[i];
        }
        uint256 cap = (v.cumulativeAmount * c.royaltyCapBps) / BPS;
        if (total > cap) revert RoyaltyOverCap(total, cap);
    }

    /// @dev Moves each creator's paid mark to the signed cumulative value; returns the increases.
    function _recordRoyalties(bytes32 id, SignedVoucher calldata v)
        private
        returns (uint256[] memory deltas, uint256 total)
    {
        uint256 n = v.creators.length;
        deltas = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            address creator = v.creators[i];
            uint256 cumulative = v.royalties[i];
            uint256 before = _royaltyPaid[id][creator];
            if (cumulative < before) revert RoyaltyDecreased(creator, before, cumulative);
            deltas[i] = cumulative - before;
            total += deltas[i];
            _royaltyPaid[id][creator] = cumulative;
        }
    }

    function _closeAndRefund(bytes32 id, Channel storage c) private {
        uint256 refund = c.deposit - c.claimed;
        c.closed = true;
        emit ChannelClosed(id, refund);
        if (refund > 0) token.safeTransfer(c.payer, refund);
    }

    function _live(bytes32 id) private view returns (Channel storage c) {
        c = _channels[id];
        if (c.payer == address(0)) revert UnknownChannel();
        if (c.closed) revert ChannelIsClosed();
    }
}
