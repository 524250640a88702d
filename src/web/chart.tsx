/** The throughput chart's drawing area (SVG user units); client/chart.js draws with the same. */
export const CHART = { width: 600, height: 150, top: 18, bottom: 22, left: 4, right: 4 } as const

/** The chart's text alternative: what a screen reader says instead of the bars. */
export function chartSummary(perMinute: readonly number[]): string {
  const total = perMinute.reduce((a, b) => a + b, 0)
  const peak = Math.max(0, ...perMinute)
  return `${total} jobs finished in the last hour; the busiest minute had ${peak}; ${perMinute.at(-1) ?? 0} so far this minute.`
}

/** Bars of jobs finished per minute over the last hour, drawn on the server (client/chart.js redraws it live). */
export function ThroughputChart(props: { perMinute: readonly number[] }) {
  const { width, height, top, bottom, left, right } = CHART
  const n = props.perMinute.length
  const peak = Math.max(1, ...props.perMinute)
  const plot = height - top - bottom
  const step = (width - left - right) / Math.max(1, n)
  return (
    <svg
      class="chart"
      data-chart="throughput"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-labelledby="chart-title chart-desc"
    >
      <title id="chart-title">Jobs finished per minute, last hour</title>
      <desc id="chart-desc">{chartSummary(props.perMinute)}</desc>
      <line class="axis" x1={left} x2={width - right} y1={height - bottom} y2={height - bottom} />
      <g class="bars">
        {props.perMinute.map((v, i) => {
          const h = (v / peak) * plot
          return (
            <rect
              x={(left + i * step + 1).toFixed(1)}
              y={(height - bottom - h).toFixed(1)}
              width={Math.max(1, step - 2).toFixed(1)}
              height={h.toFixed(1)}
            />
          )
        })}
      </g>
      <text class="peak" x={left} y={12}>
        {`peak ${Math.max(0, ...props.perMinute)}/min`}
      </text>
      <text x={left} y={height - 6}>
        60 min ago
      </text>
      <text x={width - right} y={height - 6} text-anchor="end">
        now
      </text>
    </svg>
  )
}
