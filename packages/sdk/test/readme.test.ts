import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { after, before, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type PrsmNode, readRuntimeFile } from '@prsm/node'
import { startTestNode, stopAll } from '../../node/test/helpers.ts'

const README = fileURLToPath(new URL('../README.md', import.meta.url))

/** The first ```ts block after "## Hello world". */
export async function helloWorld(): Promise<string> {
  const text = await readFile(README, 'utf8')
  const section = text.slice(text.indexOf('## Hello world'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error('README.md has no hello world block')
  return block
}

let node: PrsmNode
before(async () => {
  node = await startTestNode({ api: true })
})
after(() => stopAll([node]))

it('the README hello world (at most 10 lines) runs against a real node', async () => {
  const code = await helloWorld()
  assert.ok(code.trimEnd().split('\n').length <= 10, 'the hello world is at most 10 lines')
  // written inside the package, so `@prsm/sdk` resolves as it does for a user of the workspace
  const file = fileURLToPath(new URL(`./.hello-world-${process.pid}.ts`, import.meta.url))
  await writeFile(file, code)
  try {
    const { apiUrl, token } = await readRuntimeFile(node.dataDir)
    const { stdout } = await promisify(execFile)(process.execPath, [file], {
      env: { ...process.env, PRSM_API_URL: apiUrl, PRSM_TOKEN: token },
      timeout: 60_000,
    })
    assert.match(stdout, new RegExp(`node ${node.peerId} is up, \\d+ peers`))
  } finally {
    await rm(file, { force: true })
  }
})
