/**
 * A minimal line chart written as SVG by hand (no plotting dependency). Output is deterministic:
 * every coordinate is printed with fixed decimals.
 */

export interface ChartSeries {
  readonly name: string
  readonly values: readonly number[]
  readonly color: string
  readonly dashed?: boolean
}

export interface ChartBand {
  readonly from: number
  readonly to: number
  readonly label: string
}

export interface ChartOptions {
  readonly title: string
  readonly yLabel: string
  /** x values (days), parallel to every series' values. */
  readonly x: readonly number[]
  readonly series: readonly ChartSeries[]
  /** Shaded day windows (scenario conditions). */
  readonly bands?: readonly ChartBand[]
  /** Horizontal reference lines (targets). */
  readonly guides?: readonly { readonly y: number; readonly label: string }[]
  /** Fixed y range; otherwise fitted to the data with a margin. */
  readonly yRange?: readonly [number, number]
  readonly width?: number
  readonly height?: number
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function f(x: number): string {
  const s = x.toFixed(2)
  return s === '-0.00' ? '0.00' : s
}

/** A "nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1
  const raw = span / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const norm = raw / mag
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag
}

function label(x: number, step: number): string {
  const digits = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)))
  const s = x.toFixed(digits)
  return s.startsWith('-') && Number(s) === 0 ? s.slice(1) : s
}

export function lineChart(o: ChartOptions): string {
  const width = o.width ?? 720
  const height = o.height ?? 340
  const m = { left: 64, right: 160, top: 36, bottom: 44 }
  const pw = width - m.left - m.right
  const ph = height - m.top - m.bottom
  const xs = o.x
  const x0 = xs[0] ?? 0
  const x1 = xs[xs.length - 1] ?? 1
  let y0: number
  let y1: number
  if (o.yRange) {
    ;[y0, y1] = o.yRange
  } else {
    y0 = Number.POSITIVE_INFINITY
    y1 = Number.NEGATIVE_INFINITY
    for (const s of o.series)
      for (const v of s.values) {
        if (v < y0) y0 = v
        if (v > y1) y1 = v
      }
    for (const g of o.guides ?? []) {
      if (g.y < y0) y0 = g.y
      if (g.y > y1) y1 = g.y
    }
    if (!Number.isFinite(y0)) {
      y0 = 0
      y1 = 1
    }
    const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.1 || 1
    y0 -= pad
    y1 += pad
  }
  const sx = (x: number): number => m.left + (x1 === x0 ? pw / 2 : ((x - x0) / (x1 - x0)) * pw)
  const sy = (y: number): number => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  )
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="${f(m.left)}" y="20" font-size="15" font-weight="bold">${esc(o.title)}</text>`)
  for (const b of o.bands ?? []) {
    const bx0 = sx(Math.max(x0, b.from - 0.5))
    const bx1 = sx(Math.min(x1, b.to + 0.5))
    if (bx1 <= bx0) continue
    out.push(
      `<rect x="${f(bx0)}" y="${f(m.top)}" width="${f(bx1 - bx0)}" height="${f(ph)}" fill="#f4e3c1" opacity="0.7"/>`,
    )
    out.push(
      `<text x="${f(bx0 + 3)}" y="${f(m.top + 12)}" font-size="10" fill="#8a6d3b">${esc(b.label)}</text>`,
    )
  }
  const ystep = niceStep(y1 - y0, 5)
  for (let t = Math.ceil(y0 / ystep) * ystep; t <= y1 + ystep * 1e-9; t += ystep) {
    const y = sy(t)
    out.push(`<line x1="${f(m.left)}" y1="${f(y)}" x2="${f(m.left + pw)}" y2="${f(y)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${f(m.left - 6)}" y="${f(y + 4)}" text-anchor="end">${label(t, ystep)}</text>`)
  }
  const xstep = Math.max(1, niceStep(x1 - x0, 8))
  for (let t = Math.ceil(x0 / xstep) * xstep; t <= x1 + 1e-9; t += xstep) {
    const x = sx(t)
    out.push(
      `<line x1="${f(x)}" y1="${f(m.top + ph)}" x2="${f(x)}" y2="${f(m.top + ph + 4)}" stroke="#333"/>`,
    )
    out.push(`<text x="${f(x)}" y="${f(m.top + ph + 18)}" text-anchor="middle">${label(t, xstep)}</text>`)
  }
  out.push(
    `<rect x="${f(m.left)}" y="${f(m.top)}" width="${f(pw)}" height="${f(ph)}" fill="none" stroke="#333"/>`,
  )
  out.push(`<text x="${f(m.left + pw / 2)}" y="${f(height - 8)}" text-anchor="middle">day</text>`)
  out.push(
    `<text x="14" y="${f(m.top + ph / 2)}" text-anchor="middle" transform="rotate(-90 14 ${f(m.top + ph / 2)})">${esc(o.yLabel)}</text>`,
  )
  for (const g of o.guides ?? []) {
    const y = sy(g.y)
    out.push(
      `<line x1="${f(m.left)}" y1="${f(y)}" x2="${f(m.left + pw)}" y2="${f(y)}" stroke="#b22222" stroke-dasharray="2 3"/>`,
    )
    out.push(
      `<text x="${f(m.left + pw - 4)}" y="${f(y - 4)}" text-anchor="end" fill="#b22222">${esc(g.label)}</text>`,
    )
  }
  o.series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${f(sx(xs[i] ?? i))},${f(sy(v))}`).join(' ')
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : ''
    out.push(`<polyline fill="none" stroke="${esc(s.color)}" stroke-width="1.8"${dash} points="${pts}"/>`)
    const ly = m.top + 10 + k * 18
    out.push(
      `<line x1="${f(m.left + pw + 12)}" y1="${f(ly)}" x2="${f(m.left + pw + 36)}" y2="${f(ly)}" stroke="${esc(s.color)}" stroke-width="2"${dash}/>`,
    )
    out.push(`<text x="${f(m.left + pw + 42)}" y="${f(ly + 4)}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
