import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ERROR_CATALOGUE } from '@prsm/core'

const root = fileURLToPath(new URL('..', import.meta.url))

async function sources(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'generated')
      out.push(...(await sources(path)))
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

describe('the error catalogue', () => {
  it('lists only codes that some package raises, and every code is documented in docs/errors.md', async () => {
    const packages = await readdir(join(root, 'packages'))
    const files = (await Promise.all(packages.map((p) => sources(join(root, 'packages', p, 'src'))))).flat()
    const text = (
      await Promise.all(
        files.filter((f) => !f.endsWith('core/src/errors.ts')).map((f) => readFile(f, 'utf8')),
      )
    ).join('\n')
    const unused = Object.keys(ERROR_CATALOGUE).filter((code) => !text.includes(`'${code}'`))
    assert.deepEqual(unused, [], `catalogue codes nothing raises: ${unused.join(', ')}`)
    const docs = await readFile(join(root, 'docs', 'errors.md'), 'utf8')
    const undocumented = Object.keys(ERROR_CATALOGUE).filter((code) => !docs.includes(`\`${code}\``))
    assert.deepEqual(undocumented, [])
  })
})
