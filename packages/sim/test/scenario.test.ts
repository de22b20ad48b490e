import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { effectsForDay, loadScenario, resolveScenario, SCENARIO_NAMES, ScenarioError } from '../src/index.ts'

describe('scenarios', () => {
  it('loads every shipped scenario', async () => {
    for (const name of SCENARIO_NAMES) {
      const s = await loadScenario(name)
      assert.equal(s.name, name)
      assert.ok(s.description.length > 0)
    }
  })

  it('ends each condition when its window ends', async () => {
    const v = await loadScenario('market_volatility')
    assert.equal(effectsForDay(v, 4).noise, 1)
    assert.equal(effectsForDay(v, 5).noise, 3)
    assert.equal(effectsForDay(v, 10).noise, 3)
    assert.equal(effectsForDay(v, 11).noise, 1)
    assert.equal(effectsForDay(v, 25).noise, 3)
    assert.equal(effectsForDay(v, 26).noise, 1)
    const shock = await loadScenario('economic_shock')
    assert.equal(effectsForDay(shock, 2).demand, 1)
    assert.equal(effectsForDay(shock, 3).demand, 0.7)
    assert.equal(effectsForDay(shock, 15).flowDrift, -0.01)
    assert.equal(effectsForDay(shock, 16).flowDrift, 0)
    assert.equal(effectsForDay(shock, 16).capacity, 0.5)
    assert.equal(effectsForDay(shock, 26).capacity, 1)
    const flood = await loadScenario('data_oversupply')
    assert.equal(effectsForDay(flood, 7).dataSubmissions, 1)
    assert.equal(effectsForDay(flood, 8).dataSubmissions, 4)
    assert.equal(effectsForDay(flood, 23).dataSubmissions, 1)
    // open-ended windows last to the end of the run
    assert.equal(effectsForDay(await loadScenario('sybil_attack'), 365).sybil, 1)
  })

  it('rejects unknown fields and wrong types with the path', () => {
    assert.throws(
      () => resolveScenario({ name: 'x', bogus: 1 }),
      (e) => e instanceof ScenarioError && /bogus/.test(e.message),
    )
    assert.throws(
      () => resolveScenario({ economics: { feeBps: 'a lot' } }),
      (e) => e instanceof ScenarioError && /economics\.feeBps/.test(e.message),
    )
    assert.throws(
      () => resolveScenario({ conditions: [{ name: 'c', from: 3, to: 2, effects: {} }] }),
      (e) => e instanceof ScenarioError && /to/.test(e.message),
    )
    assert.throws(
      () => resolveScenario({ conditions: [{ name: 'c', from: 1, effects: { weather: 2 } }] }),
      (e) => e instanceof ScenarioError && /weather/.test(e.message),
    )
    assert.rejects(loadScenario('no_such_scenario'), ScenarioError)
  })
})
