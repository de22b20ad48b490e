/** The audit log: append-only, hash-chained, signed checkpoints, alert webhooks. */
export type { AlertDelivery, AlertRule, AuditAlerts, AuditAlertsComponents } from './alerts.ts'
export { createAuditAlerts, ruleMatches } from './alerts.ts'
export type {
  AuditCategory,
  AuditCheckpoint,
  AuditEntry,
  AuditInput,
  AuditLog,
  AuditLogComponents,
  AuditLogInit,
  AuditOutcome,
  AuditQuery,
  AuditSigner,
  AuditVerification,
} from './audit-log.ts'
export {
  AUDIT_CATEGORIES,
  AUDIT_FILE,
  createAuditLog,
  entryHash,
  GENESIS_HASH,
  verifyAuditFile,
  verifyDatabase,
} from './audit-log.ts'
export type { NodeAudit, NodeAuditComponents } from './node-audit.ts'
export { createNodeAudit } from './node-audit.ts'
