import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { ECONOMICS_ERROR_CODES } from '../src/index.ts'

const root = new URL('../../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')

describe('docs/economics.md', () => {
  it('documents every error code', async () => {
    const doc = await read('docs/economics.md')
    for (const code of Object.keys(ECONOMICS_ERROR_CODES))
      assert.ok(doc.includes(`\`${code}\``), `${code} is not documented`)
  })

  it('shows each example exactly as the runnable file in docs/examples', async () => {
    const doc = await read('docs/economics.md')
    for (const name of ['economics-split.ts', 'economics-voucher.ts', 'economics-staking.ts']) {
      const code = await read(`docs/examples/${name}`)
      assert.ok(doc.includes(`\`\`\`ts\n${code}\`\`\``), `the ${name} block differs from the file`)
    }
  })
})
