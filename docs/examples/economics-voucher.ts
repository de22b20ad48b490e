// Payment-channel vouchers are cumulative: keep exact accruals and pay creators the deltas.
import assert from 'node:assert/strict'
import {
  accrueVoucher,
  EMPTY_CUMULATIVE,
  formatFtns,
  parseFtns,
  resolveCumulative,
  royaltyDelta,
} from '@prsm/economics'

const terms = { feeBps: 250, royaltyCapBps: 1000 }
const model = [{ creator: 'model-author', bps: 500 }]
const modelAndData = [...model, { creator: 'dataset-a', bps: 200 }]

// Voucher 1 states 2 FTNS paid so far, for a step that used only the model.
const c1 = accrueVoucher(EMPTY_CUMULATIVE, { ...terms, royalties: model, cumulativeAmount: parseFtns('2') })
// Voucher 2 states 5 FTNS so far; the 3 FTNS increment paid for a step that also used a dataset.
const c2 = accrueVoucher(c1, { ...terms, royalties: modelAndData, cumulativeAmount: parseFtns('5') })

const owedBefore = resolveCumulative(c1)
const owedNow = resolveCumulative(c2)
const newlyOwed = royaltyDelta(owedBefore.royalties, owedNow.royalties)

assert.deepEqual(
  newlyOwed.map((r) => [r.creator, formatFtns(r.amount)]),
  [
    ['model-author', '0.15'], // 5% of the 3 FTNS increment
    ['dataset-a', '0.06'], // 2% of the 3 FTNS increment
  ],
)
assert.equal(formatFtns(owedNow.fee), '0.125') // 2.5% of 5 FTNS
assert.equal(formatFtns(owedNow.provider), '4.565') // 5 − 0.125 − 0.25 − 0.06
// A voucher that goes backwards is refused.
assert.throws(() => accrueVoucher(c2, { ...terms, royalties: model, cumulativeAmount: parseFtns('4') }), {
  code: 'ECON_CUMULATIVE_DECREASED',
})

for (const r of newlyOwed) process.stdout.write(`newly owed to ${r.creator}: ${formatFtns(r.amount)} FTNS\n`)
process.stdout.write(
  `channel so far: provider ${formatFtns(owedNow.provider)}, fee ${formatFtns(owedNow.fee)}\n`,
)
