import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { DEFAULT_SCENARIO, MECHANISM_NAMES, SCENARIO_NAMES } from '../src/index.ts'

const root = new URL('../../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')

describe('docs/simulator.md', () => {
  it('shows the defaults exactly as in the code', async () => {
    const doc = await read('docs/simulator.md')
    assert.ok(
      doc.includes(`\`\`\`json\n${JSON.stringify(DEFAULT_SCENARIO, null, 2)}\n\`\`\``),
      'defaults block is stale',
    )
  })

  it('shows the example exactly as the runnable file, and names every scenario and mechanism', async () => {
    const doc = await read('docs/simulator.md')
    const code = await read('docs/examples/sim-run.ts')
    assert.ok(doc.includes(`\`\`\`ts\n${code}\`\`\``), 'the sim-run.ts block differs from the file')
    for (const name of [...SCENARIO_NAMES, ...MECHANISM_NAMES])
      assert.ok(doc.includes(`\`${name}\``), `${name} missing`)
  })
})
