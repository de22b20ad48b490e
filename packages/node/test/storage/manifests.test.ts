import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { generatePrivateKey } from 'viem/accounts'
import type { PrsmNode } from '../../src/node.ts'
import {
  decodeManifest,
  encodeManifest,
  manifestSignatureValid,
  signManifest,
} from '../../src/storage/manifest.ts'
import { provenanceText } from '../../src/storage/provenance.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data
}

describe('manifests and provenance', () => {
  let a: PrsmNode
  let b: PrsmNode
  let weights: { cid: string; size: number }

  before(async () => {
    a = await startTestNode({ datastore: 'fs' })
    b = await startTestNode({ datastore: 'fs', config: { bootstrap: [bootstrapAddr(a)] } })
    weights = await a.storage.add(once(randomBytes(300_000)))
    await waitFor('b connected to a', () => b.libp2p.getPeers().length > 0)
  })
  after(() => stopAll([a, b]))

  it('publishes a manifest signed by the creator wallet (EIP-712) that anyone can verify', async () => {
    const { cid, manifest } = await a.manifests.publish({
      kind: 'model',
      name: 'acme/tiny',
      version: '1.0.0',
      files: [{ path: 'weights.bin', cid: weights.cid }],
      royaltyBps: 250,
      license: 'MIT',
    })
    assert.match(cid, /^bafyrei/) // dag-cbor
    assert.equal(manifest.creator, a.identity.address)
    assert.equal(manifest.files[0]?.size, weights.size)
    // b fetches it by CID from a and verifies it itself
    const fetched = await b.manifests.resolve(cid)
    assert.equal(fetched.manifest.name, 'acme/tiny')
    assert.equal(await manifestSignatureValid(fetched.manifest), true)
    assert.equal((await b.manifests.resolve('acme/tiny@1.0.0')).cid, cid)
  })

  it('rejects a manifest whose signature does not verify with MANIFEST_BAD_SIGNATURE', async () => {
    const { cid } = await a.manifests.resolve('acme/tiny@1.0.0')
    const original = await a.manifests.get(cid)
    assert.ok(original)
    const tampered = { ...original, royaltyBps: 9_000 }
    const { bytes, cid: badCid } = await encodeManifest(tampered)
    await assert.rejects(b.manifests.ingest(bytes), { code: 'MANIFEST_BAD_SIGNATURE' })
    assert.equal(
      b.manifests.list().some((s) => s.cid === badCid.toString()),
      false,
    )
    // someone else's key over the same content is just as bad
    const forged = await signManifest({ ...original }, generatePrivateKey())
    const relabelled = await encodeManifest({ ...forged, creator: original.creator })
    await assert.rejects(b.manifests.ingest(relabelled.bytes), { code: 'MANIFEST_BAD_SIGNATURE' })
  })

  it('rejects a manifest whose file CID does not match the content with MANIFEST_FILE_MISMATCH', async () => {
    await assert.rejects(
      a.manifests.publish({
        kind: 'dataset',
        name: 'wrong-size',
        version: '1',
        files: [{ path: 'data.bin', cid: weights.cid, size: weights.size + 1 }],
      }),
      { code: 'MANIFEST_FILE_MISMATCH' },
    )
    // correctly signed by its creator, but naming a file of another size
    const signed = await signManifest(
      {
        kind: 'dataset',
        name: 'lies',
        version: '1',
        files: [{ path: 'data.bin', cid: weights.cid, size: 12 }],
        royaltyBps: 0,
        license: '',
        description: '',
        parents: [],
        created: Date.now(),
      },
      generatePrivateKey(),
    )
    const { bytes } = await encodeManifest(signed)
    assert.equal(await manifestSignatureValid(decodeManifest(bytes)), true)
    await assert.rejects(b.manifests.ingest(bytes), { code: 'MANIFEST_FILE_MISMATCH' })
    await assert.rejects(b.manifests.resolve('lies'), { code: 'MANIFEST_NOT_FOUND' })
    await assert.rejects(a.manifests.publish({ kind: 'model', name: 'x', version: '1', files: [] }), {
      code: 'MANIFEST_INVALID',
    })
  })

  it('reports lineage across three generations in both directions', async () => {
    const g1 = await a.manifests.publish({
      kind: 'model',
      name: 'lineage',
      version: '1',
      files: [{ path: 'w', cid: weights.cid }],
    })
    const g2 = await a.manifests.publish({
      kind: 'model',
      name: 'lineage',
      version: '2',
      files: [{ path: 'w', cid: weights.cid }],
      parents: [g1.cid],
    })
    const g3 = await a.manifests.publish({
      kind: 'model',
      name: 'lineage-ft',
      version: '1',
      files: [{ path: 'w', cid: weights.cid }],
      parents: [g2.cid],
    })

    // ancestors, seen from another node that fetches each parent over the network
    const up = await b.manifests.provenance(g3.cid)
    assert.deepEqual(
      up.nodes.map((n) => [n.cid, n.depth]),
      [
        [g1.cid, -2],
        [g2.cid, -1],
        [g3.cid, 0],
      ],
    )
    assert.deepEqual(
      up.edges.map((e) => [e.child, e.parent]).sort(),
      [
        [g2.cid, g1.cid],
        [g3.cid, g2.cid],
      ].sort(),
    )

    // descendants, from the node that indexed them
    const down = await a.manifests.provenance(g1.cid)
    assert.deepEqual(
      down.nodes.map((n) => [n.cid, n.depth]),
      [
        [g1.cid, 0],
        [g2.cid, 1],
        [g3.cid, 2],
      ],
    )
    const middle = await a.manifests.provenance('lineage@2')
    assert.deepEqual(middle.nodes.map((n) => n.depth).sort(), [-1, 0, 1])
    const text = provenanceText(middle)
    assert.match(text, /ancestors\n {2}└── model lineage@1/)
    assert.match(text, /descendants\n {2}└── model lineage-ft@1/)

    // `name` resolves to the latest version by the same creator
    assert.equal((await a.manifests.resolve('lineage')).cid, g2.cid)
  })
})
