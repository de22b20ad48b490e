import type { Datastore } from 'interface-datastore'
import { Key } from 'interface-datastore'

/** Per-CID usage: how often this node served the content and fetched it (royalty accounting input). */
export interface UsageRecord {
  cid: string
  /** Times the content (its root block) was served to a peer or downloaded through the API. */
  serves: number
  /** Times the content was fetched by this node (API downloads of content not stored here, pins). */
  fetches: number
  bytesServed: number
  bytesFetched: number
  lastAt: number
}

const PREFIX = '/prsm/usage/'

export interface UsageCountersComponents {
  datastore: Pick<Datastore, 'get' | 'put' | 'query'>
}

/**
 * Counts serves and fetches per CID in memory and persists them to the datastore (on `flush`,
 * every `flushIntervalMs` and at stop), so the counts survive restarts.
 */
export class UsageCounters {
  readonly #c: UsageCountersComponents
  readonly #records = new Map<string, UsageRecord>()
  readonly #dirty = new Set<string>()
  readonly #flushIntervalMs: number
  #timer: NodeJS.Timeout | undefined

  constructor(components: UsageCountersComponents, init: { flushIntervalMs?: number } = {}) {
    this.#c = components
    this.#flushIntervalMs = init.flushIntervalMs ?? 10_000
  }

  async start(): Promise<void> {
    for await (const { key, value } of this.#c.datastore.query({ prefix: PREFIX })) {
      try {
        const record = JSON.parse(new TextDecoder().decode(value)) as UsageRecord
        this.#records.set(key.toString().slice(PREFIX.length), record)
      } catch {
        // a damaged record is dropped
      }
    }
    this.#timer = setInterval(() => void this.flush(), this.#flushIntervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  #record(cid: string): UsageRecord {
    let record = this.#records.get(cid)
    if (record === undefined) {
      record = { cid, serves: 0, fetches: 0, bytesServed: 0, bytesFetched: 0, lastAt: 0 }
      this.#records.set(cid, record)
    }
    this.#dirty.add(cid)
    record.lastAt = Date.now()
    return record
  }

  serve(cid: string, bytes: number, count = true): void {
    const r = this.#record(cid)
    if (count) r.serves++
    r.bytesServed += bytes
  }

  fetch(cid: string, bytes: number, count = true): void {
    const r = this.#record(cid)
    if (count) r.fetches++
    r.bytesFetched += bytes
  }

  get(cid: string): UsageRecord {
    return {
      ...(this.#records.get(cid) ?? {
        cid,
        serves: 0,
        fetches: 0,
        bytesServed: 0,
        bytesFetched: 0,
        lastAt: 0,
      }),
    }
  }

  list(): UsageRecord[] {
    return [...this.#records.values()].map((r) => ({ ...r })).sort((a, b) => b.lastAt - a.lastAt)
  }

  async flush(): Promise<void> {
    const keys = [...this.#dirty]
    this.#dirty.clear()
    for (const cid of keys) {
      const record = this.#records.get(cid)
      if (record === undefined) continue
      await this.#c.datastore.put(
        new Key(`${PREFIX}${cid}`),
        new TextEncoder().encode(JSON.stringify(record)),
      )
    }
  }
}
