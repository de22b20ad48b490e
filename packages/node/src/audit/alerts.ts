import type { AuditCategory, AuditEntry } from './audit-log.ts'

/** One alert rule (config `audit.alerts`): entries that match are POSTed to the webhook. */
export interface AlertRule {
  url: string
  categories?: readonly AuditCategory[]
  types?: readonly string[]
  minRisk?: number
  /** Attempts per entry, the first included (default 5). */
  maxAttempts?: number
  /** Delay before the first retry; doubled each time (default 200 ms). */
  retryDelayMs?: number
}

export interface AlertDelivery {
  url: string
  seq: number
  attempts: number
  ok: boolean
  status?: number
  error?: string
}

export interface AuditAlertsComponents {
  logger?: { warn(obj: object, msg: string): void }
  /** Told about every finished delivery (delivered or given up). */
  onDelivery?: (d: AlertDelivery) => void
}

export interface AuditAlerts {
  /** Sends the entry to every matching rule's webhook (in the background). */
  notify(entry: AuditEntry): void
  /** Resolves when every delivery in flight has finished. */
  idle(): Promise<void>
  stop(): void
}

export function ruleMatches(rule: AlertRule, entry: AuditEntry): boolean {
  if (
    rule.categories !== undefined &&
    rule.categories.length > 0 &&
    !rule.categories.includes(entry.category)
  )
    return false
  if (rule.types !== undefined && rule.types.length > 0 && !rule.types.includes(entry.type)) return false
  return entry.risk >= (rule.minRisk ?? 0)
}

/**
 * Audit alert rules: each matching entry is POSTed as JSON `{ alert: entry }` to the rule's
 * webhook, retried with exponential back-off on a network error or a non-2xx answer.
 */
export function createAuditAlerts(
  rules: readonly AlertRule[],
  components: AuditAlertsComponents = {},
): AuditAlerts {
  const inFlight = new Set<Promise<void>>()
  const stopper = new AbortController()

  const deliver = async (rule: AlertRule, entry: AuditEntry): Promise<void> => {
    const max = rule.maxAttempts ?? 5
    let delay = rule.retryDelayMs ?? 200
    let last: { status?: number; error?: string } = {}
    for (let attempt = 1; attempt <= max; attempt++) {
      if (stopper.signal.aborted) break
      try {
        const res = await fetch(rule.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ alert: entry }),
          signal: AbortSignal.any([stopper.signal, AbortSignal.timeout(10_000)]),
        })
        await res.body?.cancel().catch(() => undefined)
        if (res.ok) {
          components.onDelivery?.({
            url: rule.url,
            seq: entry.seq,
            attempts: attempt,
            ok: true,
            status: res.status,
          })
          return
        }
        last = { status: res.status }
      } catch (err) {
        last = { error: (err as Error).message }
      }
      if (attempt < max) {
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay *= 2
      }
    }
    // The URL may carry a token: only its origin is logged.
    components.logger?.warn(
      { url: new URL(rule.url).origin, seq: entry.seq, ...last },
      'audit alert not delivered',
    )
    components.onDelivery?.({ url: rule.url, seq: entry.seq, attempts: max, ok: false, ...last })
  }

  return {
    notify(entry) {
      for (const rule of rules) {
        if (!ruleMatches(rule, entry)) continue
        const p = deliver(rule, entry).finally(() => inFlight.delete(p))
        inFlight.add(p)
      }
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    },
    stop() {
      stopper.abort()
    },
  }
}
