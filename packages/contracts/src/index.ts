/**
 * @prsm/contracts: the FTNS contracts' typed artifacts, deployment, a local devnet, and the
 * payment-channel voucher format shared by payers and payees.
 */
export type { Anvil, AnvilInit, DevAccount } from './anvil.ts'
export { anvilBinaryPath, DEFAULT_DEVNET_CHAIN_ID, startAnvil } from './anvil.ts'
export type { DeployOptions, GovernanceSettings } from './deploy.ts'
export {
  DEFAULT_FAUCET_SUPPLY,
  DEFAULT_GOVERNANCE,
  DEFAULT_TREASURY_SUPPLY,
  DEVNET_GOVERNANCE,
  deployAll,
  FTNS,
} from './deploy.ts'
export type { Deployment, DeploymentAddresses } from './deployment.ts'
export { DEPLOYMENT_FORMAT, parseDeployment, readDeployment, writeDeployment } from './deployment.ts'
export type { Devnet, DevnetInit, FaucetFunding } from './devnet.ts'
export {
  chainOf,
  DEFAULT_DEV_ETH,
  DEFAULT_DEV_FUNDING,
  DEPLOYMENT_FILE,
  fundFromFaucet,
  startDevnet,
} from './devnet.ts'
export { ftnsTokenAbi, ftnsTokenBytecode } from './generated/FTNSToken.ts'
export { parameterRegistryAbi, parameterRegistryBytecode } from './generated/ParameterRegistry.ts'
export { paymentChannelsAbi, paymentChannelsBytecode } from './generated/PaymentChannels.ts'
export { prsmGovernorAbi, prsmGovernorBytecode } from './generated/PRSMGovernor.ts'
export { prsmTimelockAbi, prsmTimelockBytecode } from './generated/PRSMTimelock.ts'
export { providerRegistryAbi, providerRegistryBytecode } from './generated/ProviderRegistry.ts'
export type { ProposalActions, ProposalState } from './governance.ts'
export {
  castVote,
  delegateVotes,
  devnetFaucetVoter,
  executeProposal,
  PROPOSAL_STATES,
  parameterProposal,
  passProposalOnDevnet,
  proposalId,
  proposalState,
  propose,
  queueProposal,
} from './governance.ts'
export type { NetworkParameters, ParameterName } from './parameters.ts'
export {
  DEFAULT_PARAMETERS,
  DEVNET_PARAMETERS,
  PARAMETER_NAMES,
  PARAMETERS,
  parameterKey,
  parameterName,
} from './parameters.ts'
export type { PeerBindingInput } from './peer-binding.ts'
export { peerBindingMessage, verifyPeerBinding } from './peer-binding.ts'
export { PERMIT_TYPES } from './permit.ts'
export type {
  ContractVoucher,
  RoyaltyEntry,
  RoyaltyTable,
  SignedVoucher,
  Voucher,
  VoucherDomain,
  VoucherJson,
  VoucherVerifier,
  VoucherVerifierInit,
} from './voucher.ts'
export {
  createVoucherVerifier,
  domainSeparator,
  isCanonicalRoyalties,
  normalizeRoyalties,
  recoverVoucherSigner,
  royaltyCommitment,
  royaltyTotal,
  signVoucher,
  signVoucherWithAccount,
  toContractVoucher,
  VOUCHER_DOMAIN_NAME,
  VOUCHER_DOMAIN_VERSION,
  VOUCHER_TYPES,
  voucherDigest,
  voucherDomain,
  voucherFromJson,
  voucherToJson,
} from './voucher.ts'
