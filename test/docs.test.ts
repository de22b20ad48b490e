import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const examplesDir = `${root}docs/examples/`

describe('documentation', () => {
  it('generated reference pages (configuration, errors) match the code', async () => {
    await run(process.execPath, [`${root}scripts/gen-docs.ts`, '--check'], { cwd: root })
  })

  it('every code block that names an example file is identical to it', async () => {
    const docs = (await readdir(`${root}docs`))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `${root}docs/${f}`)
    docs.push(`${root}README.md`)
    let checked = 0
    for (const doc of docs) {
      const text = await readFile(doc, 'utf8')
      // a block introduced by <!-- example: docs/examples/NAME.ts --> must match that file
      for (const match of text.matchAll(/<!-- example: (\S+) -->\s*```ts\n([\s\S]*?)```/g)) {
        const file = await readFile(`${root}${match[1]}`, 'utf8')
        assert.equal(match[2], file, `${doc}: the block for ${match[1]} differs from the file`)
        checked++
      }
    }
    assert.ok(checked > 0, 'no example blocks found')
  })
})

describe('docs/examples run', async () => {
  const files = (await readdir(examplesDir)).filter((f) => f.endsWith('.ts')).sort()
  for (const file of files) {
    it(file, { timeout: 180_000 }, async () => {
      const { stdout } = await run(process.execPath, [`${examplesDir}${file}`], {
        cwd: root,
        timeout: 170_000,
      })
      assert.ok(stdout.length > 0, `${file} printed nothing`)
    })
  }
})
