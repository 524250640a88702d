import { GridError } from '../errors'

/** A bare number (seconds), or one or more number-unit parts: `90s`, `1h30m`, `1d12h`, `2m30.5s`. */
const DURATION = /^(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)$/
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)?/g
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** Parses `90`, `90s`, `10m`, `2h`, `1d` and compounds such as `1h30m` (a bare number is seconds) into milliseconds. */
export function parseDuration(input: string | number, what = 'duration'): number {
  const text = String(input).trim().toLowerCase()
  if (!DURATION.test(text)) {
    throw new GridError(
      'bad_duration',
      `${what} '${input}' is not a duration: use seconds (90) or 90s, 10m, 2h, 1h30m`,
    )
  }
  let sum = 0
  for (const m of text.matchAll(DURATION_PART)) {
    sum += Number(m[1]) * DURATION_MS[(m[2] ?? 's') as keyof typeof DURATION_MS]
  }
  const ms = Math.round(sum)
  if (ms <= 0) throw new GridError('bad_duration', `${what} must be greater than zero`)
  return ms
}

const MEMORY = /^(\d+(?:\.\d+)?)\s*(b|k|kb|ki|kib|m|mb|mi|mib|g|gb|gi|gib|t|tb|ti|tib)?$/
const MEMORY_BYTES: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** Parses `512m`, `2g`, `1.5GiB`, `1048576` (bytes) into bytes, Docker-style (powers of 1024); at least 1 byte. */
export function parseSize(input: string | number, what = 'size'): number {
  const text = String(input).trim().toLowerCase()
  const m = MEMORY.exec(text)
  const bytes = m ? Math.round(Number(m[1]) * (MEMORY_BYTES[(m[2] ?? 'b').charAt(0)] ?? 1)) : 0
  if (!m || bytes < 1)
    throw new GridError('bad_memory', `${what} '${input}' is not a size: use for example 512m or 2g`)
  return bytes
}

/** Parses a memory limit like `parseSize`; Docker needs at least 6 MiB. */
export function parseMemory(input: string | number, what = 'memory'): number {
  const bytes = parseSize(input, what)
  if (bytes < 6 * 1024 * 1024)
    throw new GridError('bad_memory', `${what} '${input}' is too small: Docker needs at least 6m`)
  return bytes
}

/** Formats milliseconds the way a person reads them: `850ms`, `12.3s`, `4m05s`, `2h00m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** Formats bytes with a binary unit: `512 MiB`, `2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`
}
