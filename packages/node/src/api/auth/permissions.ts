/**
 * Roles and the permission matrix of the node API: one table, read by the server (every route
 * declares one permission), by docs/api.md (generated from it) and by the role × endpoint test.
 */
export const ROLES = ['admin', 'operator', 'user', 'auditor', 'guest'] as const
export type Role = (typeof ROLES)[number]

/** Which roles hold each permission. A route declares exactly one permission. */
export const PERMISSIONS = {
  /** Health, node status, peers, offers. */
  'node:read': ['admin', 'operator', 'user', 'auditor', 'guest'],
  /** Read content, manifests, provenance, replicas, usage. */
  'content:read': ['admin', 'operator', 'user', 'auditor'],
  /** Upload, pin, replicate, publish manifests. */
  'content:write': ['admin', 'operator', 'user'],
  /** Garbage collection, unpinning, spot checks: storage upkeep. */
  'storage:operate': ['admin', 'operator'],
  /** Wallet, stake and channel balances, chain parameters. */
  'wallet:read': ['admin', 'operator', 'user', 'auditor'],
  /** Open, pay and top up channels (spends FTNS, counted against the daily budget). */
  'channels:write': ['admin', 'operator', 'user'],
  /** Transfers, staking, claims and closes: the node's own funds. */
  'wallet:operate': ['admin', 'operator'],
  /** Run jobs, queries and workflows (spends FTNS, counted against the daily budget). */
  'jobs:run': ['admin', 'operator', 'user'],
  /** Read jobs, queries, workflows and their traces. */
  'jobs:read': ['admin', 'operator', 'user', 'auditor'],
  /** Safety status, breakers and halts (read). */
  'safety:read': ['admin', 'operator', 'auditor'],
  /** Trip and reset breakers, halt and resume. */
  'safety:operate': ['admin', 'operator'],
  /** Read governance proposals. */
  'governance:read': ['admin', 'operator', 'user', 'auditor', 'guest'],
  /** Propose and vote with the node's wallet. */
  'governance:vote': ['admin', 'operator'],
  /** Query and export the audit log. */
  'audit:read': ['admin', 'auditor'],
  /** Create, list and revoke API keys; manage organisations and their members. */
  'keys:manage': ['admin'],
  /** Exchange one's own key for a short-lived token, read who one is. */
  'auth:self': ['admin', 'operator', 'user', 'auditor', 'guest'],
} as const satisfies Record<string, readonly Role[]>

export type Permission = keyof typeof PERMISSIONS

/** Routes that need no credentials (health, the OpenAPI document, the docs UI). */
export const PUBLIC = 'public'

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && Object.hasOwn(PERMISSIONS, value)
}

/**
 * True when `role` holds `permission`. A permission missing from the table (a route registered
 * without one) is admin-only.
 */
export function allows(role: Role, permission: string | undefined): boolean {
  if (permission === PUBLIC) return true
  if (!isPermission(permission)) return role === 'admin'
  return (PERMISSIONS[permission] as readonly Role[]).includes(role)
}

/** The roles, most powerful first: a key may only be given a role at or below its creator's. */
export function roleRank(role: Role): number {
  return ROLES.indexOf(role)
}

/** The matrix as a Markdown table (docs/api.md embeds it; the docs test checks it for drift). */
export function permissionTable(): string {
  const head = `| permission | ${ROLES.join(' | ')} |`
  const rule = `|---|${ROLES.map(() => ':-:').join('|')}|`
  const rows = Object.entries(PERMISSIONS).map(
    ([p, roles]) =>
      `| \`${p}\` | ${ROLES.map((r) => ((roles as readonly Role[]).includes(r) ? '✓' : '')).join(' | ')} |`,
  )
  return [head, rule, ...rows].join('\n')
}
