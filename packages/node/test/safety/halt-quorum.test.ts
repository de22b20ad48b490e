import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type HaltAction,
  type HaltCertificate,
  parseScope,
  quorumSize,
  type SignedHaltVote,
  signHaltVote,
  type ValidatorView,
  VoteBook,
  verifyCertificate,
} from '../../src/safety/halt/quorum.ts'

const REGISTRY = '0x00000000000000000000000000000000000000aa'
let keys: PrivateKey[]
let outsider: PrivateKey
let view: ValidatorView
const id = (k: PrivateKey) => peerIdFromPrivateKey(k).toString()

before(async () => {
  keys = await Promise.all([0, 1, 2, 3].map(() => generateKeyPair('Ed25519')))
  outsider = await generateKeyPair('Ed25519')
  view = {
    chainId: 31337,
    registry: REGISTRY,
    validators: new Map(keys.map((k, i) => [id(k), `0x${String(i).padStart(40, '0')}`])),
    quorumBps: 6_667,
  }
})

const vote = (
  k: PrivateKey,
  action: HaltAction,
  epoch = 1,
  scope = 'model:llama-3-8b',
): Promise<SignedHaltVote> =>
  signHaltVote(k, {
    scope,
    epoch,
    action,
    reason: 'test',
    validator: id(k),
    chainId: 31337,
    registry: REGISTRY,
    time: Date.now(),
  })

describe('halt quorum', () => {
  it('quorum is 2f+1 of n (f = ⌊(n−1)/3⌋), raised by the quorum parameter', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 10].map((n) => quorumSize(n)),
      [1, 1, 1, 3, 3, 3, 5, 7],
    )
    assert.equal(quorumSize(4, 6_667), 3)
    assert.equal(quorumSize(6, 6_667), 5)
    assert.equal(quorumSize(0), Number.POSITIVE_INFINITY)
  })

  it('4 validators, one Byzantine: the 3 honest votes form a certificate and the equivocation is evidence', async () => {
    const [a, b, c, byz] = keys as [PrivateKey, PrivateKey, PrivateKey, PrivateKey]
    const book = new VoteBook()
    const byzHalt = await vote(byz, 'halt')
    const byzResume = await vote(byz, 'resume')
    assert.equal(book.add(byzHalt, view).certificate, undefined)
    const second = book.add(byzResume, view)
    assert.ok(second.evidence, 'equivocation yields evidence')
    assert.equal(second.evidence.validator, id(byz))
    assert.deepEqual(
      second.evidence.votes.map((v) => v.vote.action),
      ['halt', 'resume'],
    )
    assert.match(second.evidence.id, /^[0-9a-f]{64}$/)
    assert.equal(book.add(await vote(a, 'halt'), view).certificate, undefined)
    // Two honest votes plus the equivocator's halt vote: no certificate (equivocators do not count).
    assert.equal(book.add(await vote(b, 'halt'), view).certificate, undefined)
    const third = book.add(await vote(c, 'halt'), view)
    assert.ok(third.certificate, 'third honest vote completes the quorum')
    assert.deepEqual(
      new Set(third.certificate.votes.map((v) => v.vote.validator)),
      new Set([a, b, c].map(id)),
    )
    const verified = await verifyCertificate(third.certificate, view)
    assert.equal(verified.action, 'halt')
  })

  it('only 2 honest votes form no certificate', async () => {
    const [a, b] = keys as [PrivateKey, PrivateKey]
    const book = new VoteBook()
    assert.equal(book.add(await vote(a, 'halt'), view).certificate, undefined)
    assert.equal(book.add(await vote(b, 'halt'), view).certificate, undefined)
    assert.equal(book.add(await vote(a, 'halt'), view).fresh, false, 'a repeated vote is not counted twice')
    assert.equal(book.pending()[0]?.halt.length, 2)
  })

  it('rejects under-quorum, forged, duplicated, outsider and mixed certificates', async () => {
    const [a, b, c] = keys as [PrivateKey, PrivateKey, PrivateKey]
    const code = (e: { code?: string }) => e.code === 'HALT_CERTIFICATE_INVALID'
    const good: HaltCertificate = {
      scope: 'model:llama-3-8b',
      epoch: 1,
      action: 'halt',
      votes: await Promise.all([a, b, c].map((k) => vote(k, 'halt'))),
    }
    await verifyCertificate(good, view)
    await assert.rejects(verifyCertificate({ ...good, votes: good.votes.slice(0, 2) }, view), code)
    // A forged signature: the vote's text changed after signing.
    const forged = structuredClone(good)
    ;(forged.votes[0] as SignedHaltVote).vote.reason = 'something else'
    await assert.rejects(verifyCertificate(forged, view), code)
    // The same validator counted twice.
    await assert.rejects(
      verifyCertificate({ ...good, votes: [good.votes[0], good.votes[0], good.votes[1]] }, view),
      code,
    )
    // A vote from outside the validator set.
    await assert.rejects(
      verifyCertificate({ ...good, votes: [...good.votes.slice(0, 2), await vote(outsider, 'halt')] }, view),
      code,
    )
    // A vote for another epoch.
    await assert.rejects(
      verifyCertificate({ ...good, votes: [...good.votes.slice(0, 2), await vote(c, 'halt', 2)] }, view),
      code,
    )
    // A certificate for another deployment.
    await assert.rejects(verifyCertificate(good, { ...view, chainId: 1 }), code)
    // Garbage.
    await assert.rejects(verifyCertificate({ scope: 'network' }, view), code)
  })

  it('a key cannot sign a vote in another validator’s name', async () => {
    const [a, b] = keys as [PrivateKey, PrivateKey]
    await assert.rejects(
      signHaltVote(a, {
        scope: 'network',
        epoch: 1,
        action: 'halt',
        reason: '',
        validator: id(b),
        chainId: 31337,
        registry: REGISTRY,
        time: 0,
      }),
      (e: { code?: string }) => e.code === 'HALT_VOTE_INVALID',
    )
  })

  it('parses scopes and refuses anything else', () => {
    assert.deepEqual(parseScope('network'), { kind: 'network' })
    assert.deepEqual(parseScope('model:llama-3-8b'), { kind: 'capability', capability: 'model:llama-3-8b' })
    assert.deepEqual(parseScope('capability:compute:js'), { kind: 'capability', capability: 'compute:js' })
    const peer = id(keys[0] as PrivateKey)
    assert.deepEqual(parseScope(`provider:${peer}`), { kind: 'provider', peer })
    for (const bad of ['', 'networks', 'provider:', 'provider:0OIl', 'model:', 'capability:nope', 'tool']) {
      assert.throws(
        () => parseScope(bad),
        (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
        bad,
      )
    }
  })
})
