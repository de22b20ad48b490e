export type { Config, ConfigInput, ConfigSources, JobBackendConfig, LoadedConfig } from './config.ts'
export { ConfigSchema, configFromEnv, configLeaves, envName, loadConfig, RESERVED_ENV } from './config.ts'
export type { Envelope, MessageType, OpenedEnvelope, OpenOptions, SealOptions } from './envelope.ts'
export {
  MessageRegistry,
  NONCE_BYTES,
  openEnvelope,
  ReplayGuard,
  SIGNING_DOMAIN,
  sealEnvelope,
  stripUndefined,
} from './envelope.ts'
export type { ErrorCode, PrsmErrorOptions, WireError } from './errors.ts'
export { ERROR_CATALOGUE, fromWire, hasCode, isErrorCode, PrsmError } from './errors.ts'
export { FTNS_DECIMALS, formatFtns, parseFtns } from './ftns.ts'
export type { Offer, OfferInit, PriceUnit } from './offer.ts'
export {
  CAPABILITY_KINDS,
  CapabilitySchema,
  capabilityCid,
  defaultUnit,
  OfferInitSchema,
  OfferLimitsSchema,
  OfferSchema,
  PRICE_UNITS,
  PriceUnitSchema,
} from './offer.ts'
