// Split one paid step: provider share, capped creator royalties, network fee.
import assert from 'node:assert/strict'
import { formatFtns, parseFtns, splitPayment } from '@prsm/economics'

const split = splitPayment({
  amount: parseFtns('12.5'), // what the user paid for the step
  feeBps: 250, // 2.5% network fee to the treasury (governance parameter)
  royalties: [
    { creator: 'model-author', bps: 500 }, // from the model's manifest
    { creator: 'dataset-a', bps: 300 }, // from its parent datasets' manifests
    { creator: 'dataset-b', bps: 300 },
  ],
  royaltyCapBps: 1000, // royalties may take at most 10% (governance parameter)
})

// 1,100 bps were asked for, so the rates are scaled down to the 1,000 bps cap: 454 + 273 + 273.
assert.equal(split.fee, parseFtns('0.3125'))
assert.deepEqual(
  split.royalties.map((r) => [r.creator, formatFtns(r.amount)]),
  [
    ['model-author', '0.5675'],
    ['dataset-a', '0.34125'],
    ['dataset-b', '0.34125'],
  ],
)
assert.equal(formatFtns(split.provider), '10.9375')
// Nothing is created or lost: the parts add up to the amount, to the wei.
assert.equal(
  split.provider + split.fee + split.royalties.reduce((s, r) => s + r.amount, 0n),
  parseFtns('12.5'),
)

process.stdout.write(`provider ${formatFtns(split.provider)} FTNS, fee ${formatFtns(split.fee)} FTNS\n`)
for (const r of split.royalties) process.stdout.write(`royalty ${r.creator}: ${formatFtns(r.amount)} FTNS\n`)
