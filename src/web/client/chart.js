// @ts-check
// Redraws the throughput chart (src/web/chart.tsx draws it first, on the server) from the
// overview's live events: `throughput` is the jobs finished per minute, oldest first.
// The geometry must match CHART in chart.tsx.

const CHART = { width: 600, height: 150, top: 18, bottom: 22, left: 4, right: 4 }
const SVG = 'http://www.w3.org/2000/svg'

/**
 * @param {SVGSVGElement} svg
 * @param {number[]} perMinute
 */
function draw(svg, perMinute) {
  const bars = svg.querySelector('g.bars')
  if (!bars) return
  const n = perMinute.length
  const peak = Math.max(1, ...perMinute)
  const plot = CHART.height - CHART.top - CHART.bottom
  const step = (CHART.width - CHART.left - CHART.right) / Math.max(1, n)
  while (bars.children.length > n) bars.lastElementChild?.remove()
  while (bars.children.length < n) bars.appendChild(document.createElementNS(SVG, 'rect'))
  perMinute.forEach((v, i) => {
    const rect = bars.children[i]
    if (!rect) return
    const h = (v / peak) * plot
    rect.setAttribute('x', (CHART.left + i * step + 1).toFixed(1))
    rect.setAttribute('y', (CHART.height - CHART.bottom - h).toFixed(1))
    rect.setAttribute('width', Math.max(1, step - 2).toFixed(1))
    rect.setAttribute('height', h.toFixed(1))
  })
  const total = perMinute.reduce((a, b) => a + b, 0)
  const top = Math.max(0, ...perMinute)
  const desc = svg.querySelector('desc')
  if (desc) {
    desc.textContent = `${total} jobs finished in the last hour; the busiest minute had ${top}; ${perMinute.at(-1) ?? 0} so far this minute.`
  }
  const label = svg.querySelector('text.peak')
  if (label) label.textContent = `peak ${top}/min`
}

for (const root of document.querySelectorAll('[data-live]')) {
  root.addEventListener('live', (event) => {
    if (!(event instanceof CustomEvent)) return
    /** @type {unknown} */
    const values = event.detail
    if (typeof values !== 'object' || values === null || !('throughput' in values)) return
    const perMinute = values.throughput
    if (!Array.isArray(perMinute) || !perMinute.every((v) => typeof v === 'number')) return
    for (const svg of root.querySelectorAll('svg[data-chart="throughput"]')) {
      if (svg instanceof SVGSVGElement) draw(svg, perMinute)
    }
  })
}
