import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isNodeStart, NODE_START_FLAGS, nodeStartArgv } from '../src/runtime-flags.ts'

describe('cli: the V8 flags prsm node start runs with', () => {
  const node = '/usr/bin/node'
  const bin = '/x/bin.ts'

  it('re-executes only node start, with the flags before the script and its arguments', () => {
    assert.equal(isNodeStart(['node', 'start', '--data-dir', '/d']), true)
    assert.equal(isNodeStart(['node', 'status']), false)
    assert.equal(isNodeStart(['content', 'get', 'node']), false)
    assert.equal(nodeStartArgv([node, bin, 'peers'], []), undefined)
    assert.deepEqual(nodeStartArgv([node, bin, 'node', 'start', '--mdns'], ['--no-warnings']), [
      node,
      ...NODE_START_FLAGS,
      '--no-warnings',
      bin,
      'node',
      'start',
      '--mdns',
    ])
  })

  it('leaves a flag that is already set, on the command line or in NODE_OPTIONS, alone (no loop)', () => {
    const argv = [node, bin, 'node', 'start']
    const again = nodeStartArgv(argv, []) as string[]
    // the re-executed process sees the flags in its execArgv and runs on
    assert.equal(nodeStartArgv([again[0] as string, ...again.slice(-3)], [...NODE_START_FLAGS]), undefined)
    // a flag set with another value wins; only the missing ones are added
    const others = NODE_START_FLAGS.filter((f) => !f.startsWith('--max-semi-space-size='))
    assert.deepEqual(nodeStartArgv(argv, ['--max-semi-space-size=16']), [
      node,
      ...others,
      '--max-semi-space-size=16',
      bin,
      'node',
      'start',
    ])
    const all = NODE_START_FLAGS.map((f) => `${f.split('=')[0]}=7`)
    assert.equal(nodeStartArgv(argv, all.slice(0, 1), `${all.slice(1).join(' ')} --trace-gc`), undefined)
  })
})
