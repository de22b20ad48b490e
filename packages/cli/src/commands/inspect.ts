import { formatFtns } from '@prsm/core'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson, table } from '../output.ts'

interface CommonFlags {
  dataDir?: string
  json?: boolean
}

/** `prsm node status` */
export async function nodeStatusCommand(flags: CommonFlags): Promise<void> {
  const status = await callNode<Record<string, unknown>>(resolveDataDir(flags.dataDir), '/api/v1/node/status')
  if (flags.json === true) return printJson(status)
  const messages = status.messages as { accepted: number; rejected: number }
  process.stdout.write(
    [
      `peer id     ${status.peerId}`,
      `address     ${status.address}`,
      `uptime      ${Math.round(Number(status.uptimeMs) / 1000)} s`,
      `peers       ${status.peers}`,
      `offers      ${(status.offers as string[]).join(', ') || '(none)'}`,
      `messages    ${messages.accepted} accepted, ${messages.rejected} rejected`,
      `api         ${status.apiUrl}`,
      ...(status.multiaddrs as string[]).map((a) => `listen      ${a}`),
      '',
    ].join('\n'),
  )
}

/** `prsm peers` */
export async function peersCommand(flags: CommonFlags): Promise<void> {
  const { peers } = await callNode<{
    peers: Array<{ peerId: string; addrs: string[]; direction: string; penalty: number }>
  }>(resolveDataDir(flags.dataDir), '/api/v1/peers')
  if (flags.json === true) return printJson(peers)
  process.stdout.write(
    `${table(
      ['PEER', 'ADDRESS', 'DIRECTION', 'PENALTY'],
      peers.map((p) => [p.peerId, p.addrs[0] ?? '', p.direction, String(Math.round(p.penalty))]),
    )}\n`,
  )
}

interface OfferRow {
  provider: string
  source: string
  offer: { capability: string; price: string; priceFtns: string; unit: string; expiry: number }
}

/** `prsm offers [--capability CAP]` */
export async function offersCommand(
  flags: CommonFlags & { capability?: string; timeout?: string },
): Promise<void> {
  const query = new URLSearchParams()
  if (flags.capability !== undefined) query.set('capability', flags.capability)
  if (flags.timeout !== undefined) query.set('timeoutMs', flags.timeout)
  const { offers } = await callNode<{ offers: OfferRow[] }>(
    resolveDataDir(flags.dataDir),
    `/api/v1/offers${query.size > 0 ? `?${query}` : ''}`,
  )
  if (flags.json === true) return printJson(offers)
  process.stdout.write(
    `${table(
      ['CAPABILITY', 'PRICE (FTNS)', 'UNIT', 'PROVIDER', 'SOURCE', 'EXPIRES IN'],
      offers.map((o) => [
        o.offer.capability,
        formatFtns(BigInt(o.offer.price)),
        o.offer.unit,
        o.provider,
        o.source,
        `${Math.max(0, Math.round((o.offer.expiry - Date.now()) / 1000))} s`,
      ]),
    )}\n`,
  )
}
