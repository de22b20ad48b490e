import type { Role } from './permissions.ts'

/** Who is calling: resolved from the bearer credential on every request. */
export interface Principal {
  /** The API key id (`local` for the node's token file). */
  keyId: string
  role: Role
  /** The organisation the key belongs to; null for the node's own token (node-wide admin). */
  org: string | null
  via: 'token-file' | 'api-key' | 'jwt'
  /** Requests per minute; null for no limit. */
  rateLimitPerMinute: number | null
  /** FTNS (wei) the key may spend per UTC day; null for no limit. */
  dailyBudgetWei: bigint | null
}
