// The audit log: append entries, verify the hash chain and the signed checkpoints, then edit one
// entry behind the log's back (as someone with write access to the file could) and see verify
// name it. No network, no chain.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createAuditLog, verifyAuditFile } from '@prsm/node'

const dir = mkdtempSync(join(tmpdir(), 'prsm-audit-example-'))
const path = join(dir, 'audit.db')
const key = await generateKeyPair('Ed25519') // a node key signs the checkpoints
const signer = { peerId: peerIdFromPrivateKey(key).toString(), sign: (data: Uint8Array) => key.sign(data) }

const log = createAuditLog({ path, checkpointEvery: 4 }, { signer })
log.append({ category: 'authentication', type: 'identity.unlocked', actor: 'operator', outcome: 'success' })
log.append({ category: 'governance', type: 'proposal.vote', subject: '4211', outcome: 'success', risk: 10 })
log.append({ category: 'threat_detection', type: 'halt.equivocation', outcome: 'denied', risk: 95 })
log.append({
  category: 'incident_response',
  type: 'halt.certificate.halt',
  subject: 'model:x',
  outcome: 'success',
})
log.append({
  category: 'web3_operations',
  type: 'channel.claimed',
  outcome: 'success',
  details: { paid: '2' },
})
await log.flush()
log.close()
await log.flush()

console.log('intact:', await verifyAuditFile(path, { signer: signer.peerId }))

// Someone with write access drops the append-only trigger and rewrites entry 2's outcome.
const db = new DatabaseSync(path)
db.exec('DROP TRIGGER entries_no_update')
db.prepare("UPDATE entries SET outcome = 'failure' WHERE seq = 2").run()
db.close()

const tampered = await verifyAuditFile(path, { signer: signer.peerId })
console.log('tampered:', tampered)
if (tampered.ok || tampered.firstBadSeq !== 2) throw new Error('the edit was not detected')
rmSync(dir, { recursive: true, force: true })
