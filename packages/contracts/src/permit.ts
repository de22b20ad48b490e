/**
 * EIP-2612 permits for FTNS: the typed data a holder signs so that a spender (the payment
 * channels contract) may move its tokens in the same transaction that opens a channel.
 */

/** The EIP-712 types of an EIP-2612 `Permit`. */
export const PERMIT_TYPES = {
  Permit: [
    { name: 'owner', type: 'address' },
    { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const
