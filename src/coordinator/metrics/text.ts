/**
 * The Prometheus text exposition format, version 0.0.4: escaping and number formatting.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

/** The Content-Type of a scrape's answer. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Metric and label names the format accepts (`__` prefixes are Prometheus' own, refused too). */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Throws unless `name` is a valid metric name: registration is at start-up, so a typo fails there. */
export function checkMetricName(name: string): void {
  if (!NAME.test(name)) throw new Error(`'${name}' is not a valid Prometheus metric name`)
}

/** Throws unless `name` is a valid label name that is not reserved (`le` belongs to histograms). */
export function checkLabelName(name: string): void {
  if (!LABEL.test(name) || name.startsWith('__') || name === 'le') {
    throw new Error(`'${name}' is not a usable Prometheus label name`)
  }
}

/** A HELP text: backslash and newline escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/** A label value: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A sample value as the format writes it (`+Inf`, `-Inf`, `NaN`, or the shortest round-trip decimal). */
export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  if (Number.isNaN(v)) return 'NaN'
  return String(v)
}

/** `{a="x",b="y"}` for the given names and values; empty when there are none. */
export function labelSet(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** The HELP and TYPE lines of a family. */
export function header(name: string, help: string, type: 'counter' | 'gauge' | 'histogram'): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`
}
