/** The ledger service: FTNS wallet, payment channels (payer and payee), claims, parameters. */
export type { LedgerChain, LedgerChainInit } from './chain.ts'
export { createLedgerChain, requireChain } from './chain.ts'
export type { ChannelCache, ChannelCacheInit, ChannelState } from './channel-state.ts'
export { createChannelCache } from './channel-state.ts'
export type { LedgerErrorCode } from './errors.ts'
export { isLedgerError, LEDGER_ERRORS, LedgerError } from './errors.ts'
export type { NodeLedgerComponents } from './from-config.ts'
export {
  deploymentFromConfig,
  fundFromDevnetFaucet,
  LEDGER_JOURNAL_FILE,
  ledgerFromConfig,
  startNodeLedger,
} from './from-config.ts'
export type { Ledger, LedgerComponents, LedgerInit } from './ledger.ts'
export { createLedger } from './ledger.ts'
export type {
  ParameterChange,
  ParameterSnapshot,
  ParameterWatcher,
  ParameterWatcherComponents,
  ParameterWatcherInit,
} from './parameters.ts'
export { createParameterWatcher, DEFAULT_PARAMETER_POLL_MS } from './parameters.ts'
export type { AcceptedVoucher, AcceptOptions, Payee, PayeeComponents, PayeeInit } from './payee.ts'
export { createPayee } from './payee.ts'
export type { OpenChannelOptions, Payer, PayerComponents, PayerInit, TxResult } from './payer.ts'
export { createPayer, DEFAULT_CHANNEL_EXPIRY_SECONDS } from './payer.ts'
export type {
  ReconcileAction,
  ReconcileResult,
  Reconciler,
  ReconcilerComponents,
  ReconcilerInit,
} from './reconciler.ts'
export {
  createReconciler,
  DEFAULT_CLAIM_EXPIRY_MARGIN_SECONDS,
  DEFAULT_CLAIM_THRESHOLD,
  DEFAULT_RECONCILE_INTERVAL_MS,
} from './reconciler.ts'
export type {
  ClaimRecord,
  ClaimStatus,
  JournalledVoucher,
  PayerChannelRecord,
  VoucherJournal,
  VoucherJournalInit,
} from './voucher-journal.ts'
export { createVoucherJournal } from './voucher-journal.ts'
export type { Balances, NodeKey, StakeStatus, Wallet, WalletComponents } from './wallet.ts'
export { base58Decode, createWallet, formatFtns, parseFtns } from './wallet.ts'
