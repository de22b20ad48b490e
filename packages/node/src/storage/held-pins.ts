import type { PeerId } from '@libp2p/interface'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { ContentStorage } from './storage.ts'

/** Pins a holder keeps for others: `<PREFIX><cid>/<requester>` → {@link HeldPin}. */
const PREFIX = '/prsm/replication-held/'
/** How often a holder looks for expired pins it holds for others. */
export const RELEASE_INTERVAL_MS = 60_000

/** A pin held for a requester until `expiry`; released then unless the node pinned it itself. */
interface HeldPin {
  expiry: number
  /** The content was already pinned here before the first request (never released by expiry). */
  pinnedBefore: boolean
}

export interface HeldPinsComponents {
  storage: Pick<ContentStorage, 'unpin' | 'helia'>
  datastore: Pick<Datastore, 'put' | 'get' | 'delete' | 'query'>
  logger: Logger
}

/**
 * The holder side of paid replication's expiry: each pin held for a requester is recorded with
 * the latest expiry it was granted (a repeated request extends it), and pins of CIDs whose
 * receipts have all expired are released. Content the holder had pinned itself is never released.
 */
export class HeldPins {
  readonly #c: HeldPinsComponents
  #releasing: Promise<string[]> | undefined

  constructor(components: HeldPinsComponents) {
    this.#c = components
  }

  /**
   * Call before pinning `cid` for `requester` with `run` (which pins and returns the size); records
   * the hold and returns the expiry to put in the receipt.
   */
  async hold(
    cid: string,
    requester: PeerId,
    durationMs: number,
    run: () => Promise<void>,
  ): Promise<{ expiry: number }> {
    const key = new Key(`${PREFIX}${cid}/${requester.toString()}`)
    const held = await this.#get(key)
    const pinnedBefore = held?.pinnedBefore ?? (await this.#c.storage.helia.pins.isPinned(CID.parse(cid)))
    await run()
    const expiry = Math.max(held?.expiry ?? 0, Date.now() + durationMs)
    const record: HeldPin = { expiry, pinnedBefore }
    await this.#c.datastore.put(key, new TextEncoder().encode(JSON.stringify(record)))
    return { expiry }
  }

  async #get(key: Key): Promise<HeldPin | undefined> {
    try {
      return JSON.parse(new TextDecoder().decode(await this.#c.datastore.get(key))) as HeldPin
    } catch {
      return undefined
    }
  }

  /** Unpins the CIDs whose holds have all expired at `now`; returns them (blocks go at the next gc). */
  async releaseExpired(now = Date.now()): Promise<string[]> {
    while (this.#releasing !== undefined) await this.#releasing.catch(() => undefined)
    const run = this.#releaseExpired(now)
    this.#releasing = run
    try {
      return await run
    } finally {
      this.#releasing = undefined
    }
  }

  /**
   * Drops the hold of `requester` on `cid` (its pin went unpaid) and unpins the content unless
   * another requester's hold is still current or the node had pinned it itself. Returns whether
   * it was unpinned.
   */
  async releaseFor(cid: string, requester: string, now = Date.now()): Promise<boolean> {
    while (this.#releasing !== undefined) await this.#releasing.catch(() => undefined)
    const key = new Key(`${PREFIX}${cid}/${requester}`)
    const own = await this.#get(key)
    await Promise.resolve(this.#c.datastore.delete(key)).catch(() => undefined)
    if (own === undefined || own.pinnedBefore) return false
    for await (const { value } of this.#c.datastore.query({ prefix: `${PREFIX}${cid}/` })) {
      try {
        const held = JSON.parse(new TextDecoder().decode(value)) as HeldPin
        if (held.expiry > now || held.pinnedBefore) return false
      } catch {
        return false
      }
    }
    try {
      await this.#c.storage.unpin(cid)
      this.#c.logger.info({ cid, requester }, 'pin held for an unpaid requester: released')
      return true
    } catch {
      return false
    }
  }

  /** Waits for a release in progress (at stop). */
  async settled(): Promise<void> {
    await this.#releasing?.catch(() => undefined)
  }

  async #releaseExpired(now: number): Promise<string[]> {
    const byCid = new Map<string, Array<{ key: Key; held: HeldPin }>>()
    for await (const { key, value } of this.#c.datastore.query({ prefix: PREFIX })) {
      const cid = key.toString().slice(PREFIX.length).split('/')[0] as string
      let held: HeldPin
      try {
        held = JSON.parse(new TextDecoder().decode(value)) as HeldPin
      } catch {
        held = { expiry: 0, pinnedBefore: true }
      }
      byCid.set(cid, [...(byCid.get(cid) ?? []), { key, held }])
    }
    const released: string[] = []
    for (const [cid, entries] of byCid) {
      if (entries.some((e) => e.held.expiry > now)) continue
      for (const e of entries) await Promise.resolve(this.#c.datastore.delete(e.key)).catch(() => undefined)
      if (entries.some((e) => e.held.pinnedBefore)) continue
      try {
        await this.#c.storage.unpin(cid)
        released.push(cid)
        this.#c.logger.info({ cid }, 'pin held for others expired: released')
      } catch (err) {
        this.#c.logger.debug({ cid, err: (err as Error).message }, 'expired pin was not pinned')
      }
    }
    return released
  }
}
