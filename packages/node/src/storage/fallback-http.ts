import type { FallbackRetriever } from './block-exchange.ts'
import { MAX_BLOCK_BYTES } from './blocks.ts'

export interface HttpFallbackInit {
  /** Trustless gateways: `GET <url>/ipfs/<cid>?format=raw`. */
  gateways: readonly string[]
  /** Kubo RPC endpoints: `POST <url>/api/v0/block/get?arg=<cid>`. */
  kuboRpc: readonly string[]
}

async function readCapped(res: Response): Promise<Uint8Array> {
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  const length = Number(res.headers.get('content-length') ?? '0')
  if (length > MAX_BLOCK_BYTES) throw new Error(`block of ${length} bytes is over the cap`)
  const body = new Uint8Array(await res.arrayBuffer())
  if (body.byteLength > MAX_BLOCK_BYTES) throw new Error('block is over the cap')
  return body
}

/**
 * HTTP sources of raw blocks, tried after the peers. They are untrusted: the block exchange
 * verifies every block they return against its CID before it is used.
 */
export function httpFallbacks(init: HttpFallbackInit): FallbackRetriever[] {
  const out: FallbackRetriever[] = []
  for (const base of init.gateways) {
    const url = base.replace(/\/+$/, '')
    out.push({
      name: `gateway ${url}`,
      retrieve: async (cid, { signal }) =>
        readCapped(
          await fetch(`${url}/ipfs/${cid.toString()}?format=raw`, {
            headers: { accept: 'application/vnd.ipld.raw' },
            signal,
          }),
        ),
    })
  }
  for (const base of init.kuboRpc) {
    const url = base.replace(/\/+$/, '')
    out.push({
      name: `kubo-rpc ${url}`,
      retrieve: async (cid, { signal }) =>
        readCapped(await fetch(`${url}/api/v0/block/get?arg=${cid.toString()}`, { method: 'POST', signal })),
    })
  }
  return out
}
