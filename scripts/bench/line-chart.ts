/** A line chart panel in SVG: categories on x, a linear y axis from 0, one polyline per series, a legend. */

export const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

export interface Series {
  readonly name: string
  readonly color: string
  readonly dash: boolean
  readonly values: ReadonlyArray<number | undefined>
}

/** One line chart panel: categories on x (worker counts), linear y from 0. */
export const panel = (
  x0: number,
  y0: number,
  width: number,
  height: number,
  title: string,
  yLabel: string,
  categories: ReadonlyArray<number>,
  series: ReadonlyArray<Series>,
  legend: ReadonlyArray<string> = []
): string => {
  const left = 64
  const right = 16
  const top = 36
  const bottom = 44
  const plotW = width - left - right
  const plotH = height - top - bottom
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v): v is number => v !== undefined)))
  const step = niceStep(max / 5)
  const yMax = Math.ceil((max * 1.05) / step) * step
  const px = (i: number) => x0 + left + ((i + 0.5) * plotW) / categories.length // category band centres
  const py = (v: number) => y0 + top + plotH - (v / yMax) * plotH
  const parts: Array<string> = []
  parts.push(
    `<text x="${x0 + width / 2}" y="${y0 + 20}" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(title)
    }</text>`
  )
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const y = py(v).toFixed(1)
    parts.push(`<line x1="${x0 + left}" y1="${y}" x2="${x0 + left + plotW}" y2="${y}" stroke="#e5e7eb"/>`)
    parts.push(
      `<text x="${x0 + left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${
        formatTick(v)
      }</text>`
    )
  }
  parts.push(`<line x1="${x0 + left}" y1="${y0 + top}" x2="${x0 + left}" y2="${y0 + top + plotH}" stroke="#374151"/>`)
  parts.push(
    `<line x1="${x0 + left}" y1="${y0 + top + plotH}" x2="${x0 + left + plotW}" y2="${
      y0 + top + plotH
    }" stroke="#374151"/>`
  )
  categories.forEach((c, i) => {
    parts.push(
      `<text x="${px(i).toFixed(1)}" y="${y0 + top + plotH + 18}" text-anchor="middle" font-size="12">${c}</text>`
    )
  })
  parts.push(
    `<text x="${x0 + left + plotW / 2}" y="${y0 + height - 6}" text-anchor="middle" font-size="12">workers</text>`
  )
  parts.push(
    `<text transform="translate(${x0 + 14},${y0 + top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${
      escapeXml(yLabel)
    }</text>`
  )
  for (const s of series) {
    const points = s.values.flatMap((v, i) => v === undefined ? [] : [`${px(i).toFixed(1)},${py(v).toFixed(1)}`])
    if (points.length === 0) continue
    const dash = s.dash ? ` stroke-dasharray="6 4"` : ""
    parts.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`)
    for (const p of points) {
      const [cx, cy] = p.split(",")
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${s.color}"/>`)
    }
  }
  // legend, top-left inside the plot, on a light background
  // series without a name (e.g. a p99 line drawn in its p50 line's colour) are drawn but not listed
  const named = series.filter((s) => s.name !== "")
  const legendWidth = 30 + 6.2 * Math.max(0, ...legend.map((l) => l.length), ...named.map((s) => s.name.length))
  const legendRows = named.length + legend.length
  parts.push(
    `<rect x="${x0 + left + 4}" y="${y0 + top + 2}" width="${legendWidth.toFixed(0)}" height="${
      legendRows * 16 + 4
    }" fill="#ffffff" fill-opacity="0.85" stroke="#e5e7eb"/>`
  )
  legend.forEach((text, i) => {
    const ly = y0 + top + 10 + (named.length + i) * 16
    parts.push(
      `<text x="${
        x0 + left + 10
      }" y="${ly}" dominant-baseline="middle" font-size="11" font-style="italic" fill="#6b7280">${
        escapeXml(text)
      }</text>`
    )
  })
  named.forEach((s, i) => {
    const lx = x0 + left + 10
    const ly = y0 + top + 10 + i * 16
    const dash = s.dash ? ` stroke-dasharray="6 4"` : ""
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`)
    parts.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`)
  })
  return parts.join("\n")
}

const niceStep = (raw: number): number => {
  const power = 10 ** Math.floor(Math.log10(raw))
  const m = raw / power
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power
}

const formatTick = (v: number) =>
  v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k` : `${Number(v.toPrecision(3))}`
