import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '@prsm/core'
import { type BreakerChange, Breakers } from '../../src/safety/breakers.ts'
import { parsePolicy } from '../../src/safety/policy.ts'
import { SafetyService } from '../../src/safety/safety-service.ts'

const make = (over: Partial<ConstructorParameters<typeof Breakers>[0]> = {}) =>
  new Breakers({
    failureRateBps: 5_000,
    violationRateBps: 100,
    openMs: 30_000,
    windowMs: 60_000,
    minSamples: 4,
    ...over,
  })

describe('circuit breakers', () => {
  it('opens on the failure rate only with enough samples, then half-opens, probes and closes', () => {
    const b = make()
    const changes: BreakerChange[] = []
    b.onChange((c) => changes.push(c))
    b.record('provider:p', 'failure', 0)
    b.record('provider:p', 'failure', 1)
    b.record('provider:p', 'failure', 2)
    assert.equal(b.state('provider:p', 3), 'closed', 'three samples are below minSamples')
    b.record('provider:p', 'success', 4)
    assert.equal(b.state('provider:p', 5), 'open')
    assert.equal(b.allow('provider:p', 5), false)
    assert.deepEqual(
      changes.map((c) => [c.from, c.to]),
      [['closed', 'open']],
    )
    assert.equal(changes[0]?.failureRate, 0.75)
    // After openMs: one probe at a time.
    assert.equal(b.state('provider:p', 30_005), 'half-open')
    assert.equal(b.routable('provider:p', 30_005), true)
    assert.equal(b.allow('provider:p', 30_005), true)
    assert.equal(b.allow('provider:p', 30_006), false, 'second probe waits')
    b.record('provider:p', 'success', 30_010)
    assert.equal(b.state('provider:p', 30_011), 'closed')
    assert.equal(b.status('provider:p', 30_011).samples, 0, 'a closed breaker starts a fresh window')
  })

  it('a failed probe opens it again; old outcomes leave the window', () => {
    const b = make()
    for (let i = 0; i < 4; i++) b.record('model:m', 'failure', i)
    assert.equal(b.state('model:m', 10), 'open')
    assert.equal(b.allow('model:m', 30_010), true)
    b.record('model:m', 'failure', 30_011)
    assert.equal(b.state('model:m', 30_012), 'open')
    const b2 = make()
    b2.record('x', 'failure', 0)
    b2.record('x', 'failure', 1)
    b2.record('x', 'failure', 2)
    // A minute later those three are out of the window: one more failure is not enough.
    b2.record('x', 'failure', 70_000)
    assert.equal(b2.state('x', 70_001), 'closed')
  })

  it('opens on the violation rate and follows new thresholds', () => {
    const b = make({ violationRateBps: 2_000 })
    for (let i = 0; i < 9; i++) b.record('provider:v', 'success', i)
    b.record('provider:v', 'violation', 10)
    assert.equal(b.state('provider:v', 11), 'closed', '10% is under 20%')
    b.setThresholds({ violationRateBps: 1_000 })
    b.record('provider:v', 'violation', 12)
    assert.equal(b.state('provider:v', 13), 'open', '2/11 is over 10%')
  })

  it("weighs other nodes' reports: distinct origins must add up to 1, and reports expire", () => {
    const b = make({ remoteWeight: 0.5 })
    b.applyRemote('peer-a', 'provider:q', 'open', 0)
    assert.equal(b.routable('provider:q', 1), true, 'one report at 0.5 is not enough')
    b.applyRemote('peer-a', 'provider:q', 'open', 2)
    assert.equal(b.routable('provider:q', 3), true, 'the same origin twice still counts once')
    b.applyRemote('peer-b', 'provider:q', 'open', 4)
    assert.equal(b.routable('provider:q', 5), false)
    assert.equal(b.state('provider:q', 5), 'closed', 'the local state is unchanged')
    b.applyRemote('peer-b', 'provider:q', 'closed', 6)
    assert.equal(b.routable('provider:q', 7), true, 'a later closed report replaces the open one')
    b.applyRemote('peer-b', 'provider:q', 'open', 8)
    assert.equal(b.routable('provider:q', 30_003), true, 'peer-a expired after openMs')
    const ignoring = make({ remoteWeight: 0 })
    for (const p of ['a', 'b', 'c', 'd', 'e']) ignoring.applyRemote(p, 'provider:q', 'open', 0)
    assert.equal(ignoring.routable('provider:q', 1), true)
  })
})

describe('the safety service on its own', () => {
  it('applies the policy limits per client: rate, then budget of estimated input tokens', async () => {
    const quiet = { info() {}, warn() {}, debug() {} }
    const policy = parsePolicy(
      JSON.stringify({
        version: 1,
        name: 'limits',
        categories: { rate: { action: 'block' }, budget: { action: 'block' } },
        limits: { ratePerMinute: 60, burst: 2, budget: 10, budgetWindowMs: 60_000 },
      }),
    )
    const svc = new SafetyService({ logger: quiet }, { safety: loadConfig({}).config.safety, policy })
    await svc.start()
    const ask = (client: string, text: string) =>
      svc.checkRequest({ capability: 'model:x', inputs: [{ text }] }, { client })
    assert.deepEqual(await ask('a', 'hello there'), { allow: true })
    assert.deepEqual(await ask('a', 'hi'), { allow: true })
    const third = await ask('a', 'hi')
    assert.equal(third.allow, false)
    assert.match(third.allow === false ? third.reason : '', /rate\/requests-per-minute/)
    // Another client has its own bucket, and 40+ characters (10+ tokens) use up its budget.
    assert.deepEqual(await ask('b', 'x'.repeat(36)), { allow: true })
    const over = await ask('b', 'x'.repeat(8))
    assert.match(over.allow === false ? over.reason : '', /budget\/budget-window/)
    await svc.stop()
  })
})
