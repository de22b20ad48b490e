import { join } from 'node:path'
import type { Config } from '@prsm/core'
import { type AlertDelivery, type AlertRule, createAuditAlerts } from './alerts.ts'
import {
  AUDIT_FILE,
  type AuditCategory,
  type AuditEntry,
  type AuditInput,
  type AuditLog,
  type AuditSigner,
  createAuditLog,
} from './audit-log.ts'

export interface NodeAuditComponents {
  dataDir: string
  signer: AuditSigner
  logger?: { warn(obj: object, msg: string): void }
  /** Told about every finished alert delivery (tests, metrics). */
  onAlertDelivery?: (d: AlertDelivery) => void
}

/**
 * The node's audit service (`node.audit`): the log at `<dataDir>/audit.db` plus the alert rules
 * of `config.audit.alerts`. `append` never throws on a caller's behalf once the node is running:
 * a bad entry is a programming error and is logged, so auditing never breaks the action audited.
 */
export interface NodeAudit extends Pick<AuditLog, 'query' | 'checkpoints' | 'head' | 'verify' | 'flush'> {
  append(input: AuditInput): AuditEntry | undefined
  /** Waits for alert deliveries in flight. */
  alertsIdle(): Promise<void>
  stop(): Promise<void>
}

export function createNodeAudit(config: Pick<Config, 'audit'>, components: NodeAuditComponents): NodeAudit {
  const rules: AlertRule[] = config.audit.alerts.map((a) => ({
    url: a.url,
    categories: a.categories as AuditCategory[],
    types: a.types,
    minRisk: a.minRisk,
    maxAttempts: a.maxAttempts,
    retryDelayMs: a.retryDelayMs,
  }))
  const alerts = createAuditAlerts(rules, {
    ...(components.logger ? { logger: components.logger } : {}),
    ...(components.onAlertDelivery ? { onDelivery: components.onAlertDelivery } : {}),
  })
  const log = createAuditLog(
    { path: join(components.dataDir, AUDIT_FILE), checkpointEvery: config.audit.checkpointEvery },
    {
      signer: components.signer,
      onAppend: (e) => alerts.notify(e),
      ...(components.logger ? { logger: components.logger } : {}),
    },
  )
  let stopped = false
  return {
    append(input) {
      if (stopped) return undefined
      try {
        return log.append(input)
      } catch (err) {
        components.logger?.warn({ err: String(err), type: input.type }, 'audit entry refused')
        return undefined
      }
    },
    query: (q) => log.query(q),
    checkpoints: () => log.checkpoints(),
    head: () => log.head(),
    verify: (options) => log.verify(options),
    flush: () => log.flush(),
    alertsIdle: () => alerts.idle(),
    async stop() {
      if (stopped) return
      stopped = true
      alerts.stop()
      await alerts.idle()
      await log.flush()
      log.close()
    },
  }
}
