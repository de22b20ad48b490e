import { type Hex, keccak256, stringToHex } from 'viem'

/**
 * The network parameters held by the ParameterRegistry, keyed on chain by `keccak256(name)`.
 * The registry accepts any key, so new parameters need no contract change; these are the ones
 * the contracts and the node read. `bps` values are basis points (10,000 = 100 %).
 */
export const PARAMETERS = {
  networkFeeBps: {
    unit: 'bps',
    description: 'Network fee taken from every channel claim, paid to the treasury',
  },
  royaltyCapBps: {
    unit: 'bps',
    description: 'Largest royalty table total, as a share of the voucher amount (fixed per channel at open)',
  },
  minStake: { unit: 'wei', description: 'Stake needed to register as a provider' },
  validatorStake: { unit: 'wei', description: 'Stake needed to count in the validator set' },
  unbondingPeriod: { unit: 'seconds', description: 'Delay between an unbond request and the withdrawal' },
  haltQuorumBps: { unit: 'bps', description: 'Share of validators whose signatures form a halt certificate' },
  breakerFailureRateBps: { unit: 'bps', description: 'Failure rate that opens a provider circuit breaker' },
  breakerViolationRateBps: { unit: 'bps', description: 'Safety-violation rate that opens a circuit breaker' },
  breakerOpenSeconds: { unit: 'seconds', description: 'How long a breaker stays open before half-open' },
  maxCapabilityJumpBps: {
    unit: 'bps',
    description: 'Largest evaluated capability gain of a new model version served without a proposal',
  },
  safetyPolicy: {
    unit: 'digest',
    description:
      'sha2-256 digest (as uint256) of the safety policy document; its raw or dag-json CIDv1 names the document (0 = the default policy)',
  },
} as const satisfies Record<
  string,
  { unit: 'bps' | 'wei' | 'seconds' | 'count' | 'digest'; description: string }
>

export type ParameterName = keyof typeof PARAMETERS
export type NetworkParameters = Record<ParameterName, bigint>

export const PARAMETER_NAMES = Object.keys(PARAMETERS) as ParameterName[]

const FTNS = 10n ** 18n

/** Defaults for a production deployment. */
export const DEFAULT_PARAMETERS: NetworkParameters = {
  networkFeeBps: 200n,
  royaltyCapBps: 2_000n,
  minStake: 100n * FTNS,
  validatorStake: 10_000n * FTNS,
  unbondingPeriod: 7n * 24n * 3600n,
  haltQuorumBps: 6_667n,
  breakerFailureRateBps: 5_000n,
  breakerViolationRateBps: 100n,
  breakerOpenSeconds: 30n,
  maxCapabilityJumpBps: 1_000n,
  safetyPolicy: 0n,
}

/** Devnet defaults: the same, with a short unbonding period. */
export const DEVNET_PARAMETERS: NetworkParameters = { ...DEFAULT_PARAMETERS, unbondingPeriod: 60n }

/** The registry key of a parameter name. */
export function parameterKey(name: string): Hex {
  return keccak256(stringToHex(name))
}

const KEY_TO_NAME = new Map<string, ParameterName>(PARAMETER_NAMES.map((n) => [parameterKey(n), n]))

/** The known parameter name for a registry key, if any. */
export function parameterName(key: Hex): ParameterName | undefined {
  return KEY_TO_NAME.get(key.toLowerCase())
}
