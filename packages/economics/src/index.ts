/**
 * `@prsm/economics`: the FTNS rules shared by the node and the simulator. Pure functions on bigint
 * wei amounts (18 decimals) and integer basis points; no I/O, no dependencies.
 */
export type { AccrueInput, AccrueVoucherInput, CumulativeSplit, SplitDelta } from './cumulative.ts'
export {
  accrue,
  accrueVoucher,
  accrueWithTable,
  EMPTY_CUMULATIVE,
  resolveCumulative,
  royaltyDelta,
  splitDelta,
} from './cumulative.ts'
export type { EconomicsErrorCode } from './errors.ts'
export { ECONOMICS_ERROR_CODES, EconomicsError, isEconomicsError } from './errors.ts'
export type { DynamicPriceInput, OfferPrice } from './pricing.ts'
export { DEFAULT_DYNAMIC_PRICE, dynamicPrice, quote } from './pricing.ts'
export type { CappedDistribution, ContributionScore, RewardPolicy } from './rewards.ts'
export {
  contributionWeight,
  DEFAULT_REWARD_POLICY,
  distributeCapped,
  distributeProRata,
  splitShares,
} from './rewards.ts'
export type {
  CapMode,
  PaymentSplit,
  RoyaltyAmount,
  RoyaltyRate,
  RoyaltyShare,
  RoyaltyTable,
  SplitPaymentInput,
} from './split.ts'
export { capRoyalties, splitPayment, splitWithTable, sumRoyalties } from './split.ts'
export type { StabilisationAction, StabilisationPolicy } from './stabilisation.ts'
export {
  stabilisationAction,
  stabilisationBand,
  stabilisationBudget,
  updateReference,
} from './stabilisation.ts'
export type { StakePosition, UnbondingEntry, UnbondOptions } from './staking.ts'
export {
  beginUnbond,
  bond,
  EMPTY_STAKE,
  meetsMinimumStake,
  slash,
  splitSlash,
  totalStake,
  withdrawUnbonded,
} from './staking.ts'
export { transfer } from './transfer.ts'
export type { Bps } from './units.ts'
export {
  assertAmount,
  BPS_DENOMINATOR,
  FTNS_DECIMALS,
  formatFtns,
  mulBps,
  parseFtns,
  toBps,
  WEI_PER_FTNS,
} from './units.ts'
