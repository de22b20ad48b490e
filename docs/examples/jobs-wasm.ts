// A compute:wasm step: a tiny WebAssembly module (assembled here byte by byte) that echoes its
// first input, stored as content and run by a provider in its sandbox over a CID input.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

// (module
//   (import "prsm" "input_len" (func (param i32) (result i32)))             ;; 0
//   (import "prsm" "input_read" (func (param i32 i32 i32 i32) (result i32))) ;; 1
//   (import "prsm" "output_write" (func (param i32 i32) (result i32)))      ;; 2
//   (import "prsm" "memory" (memory 1))
//   (func (export "main") (result i32) (local $n i32)
//     (local.set $n (call 0 (i32.const 0)))                                 ;; n = input_len(0)
//     (drop (call 1 (i32.const 0) (i32.const 0) (i32.const 0) (local.get $n)))
//     (drop (call 2 (i32.const 0) (local.get $n)))
//     (i32.const 0)))
const name = (s: string) => [s.length, ...Buffer.from(s)]
const section = (id: number, body: number[]) => [id, body.length, ...body]
const code = [
  [0x01, 0x01, 0x7f], // one local i32
  [0x41, 0x00, 0x10, 0x00, 0x21, 0x00], // n = input_len(0)
  [0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x20, 0x00, 0x10, 0x01, 0x1a], // input_read(0, 0, 0, n)
  [0x41, 0x00, 0x20, 0x00, 0x10, 0x02, 0x1a], // output_write(0, n)
  [0x41, 0x00, 0x0b], // return 0
].flat()
const types = [
  [0x60, 1, 0x7f, 1, 0x7f], // 0: (i32) -> i32
  [0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f], // 1: (i32 i32 i32 i32) -> i32
  [0x60, 2, 0x7f, 0x7f, 1, 0x7f], // 2: (i32 i32) -> i32
  [0x60, 0, 1, 0x7f], // 3: () -> i32
].flat()
const imports = [
  [...name('prsm'), ...name('input_len'), 0x00, 0],
  [...name('prsm'), ...name('input_read'), 0x00, 1],
  [...name('prsm'), ...name('output_write'), 0x00, 2],
  [...name('prsm'), ...name('memory'), 0x02, 0x00, 1], // memory, at least 1 page
].flat()
const wasm = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
  ...section(1, [4, ...types]),
  ...section(2, [4, ...imports]),
  ...section(3, [1, 3]), // one function of type 3
  ...section(7, [1, ...name('main'), 0x00, 3]), // export it (function index 3) as main
  ...section(10, [1, code.length, ...code]),
])

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))
async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({ flags: { logLevel: 'warn', listen: ['/ip4/127.0.0.1/tcp/0'], ...flags } })
  const node = await PrsmNode.create({ config, identity: await loadIdentity(dataDir, null), dataDir })
  await node.start()
  return node
}
const provider = await start('provider', { offers: [{ capability: 'compute:wasm', price: '0' }] })
const client = await start('client', { bootstrap: provider.multiaddrs() })

const add = async (bytes: Uint8Array) =>
  (
    await client.storage.add(
      (async function* () {
        yield bytes
      })(),
    )
  ).cid
const program = await add(wasm)
const input = await add(Buffer.from('reproducible science'))
const { receipt, output } = await client.jobs.request(provider.peerId, {
  step: { capability: 'compute:wasm', params: { program } },
  inputs: [{ cid: input }],
  maxPrice: 0n,
})
console.log(
  `${receipt.status}: "${Buffer.from(output).toString()}" in ${receipt.usage.computeMs} ms, sha256 ${receipt.outputHash}`,
)

await client.stop()
await provider.stop()
await rm(root, { recursive: true, force: true })
if (Buffer.from(output).toString() !== 'reproducible science') throw new Error('unexpected output')
