/** Credits are counted in millicredits: integers, never floating point. */
export const MC_PER_CREDIT = 1000

/** Formats millicredits as credits with their decimals: `10`, `0.017`, `-2.5`. */
export function formatCredits(mc: number): string {
  const sign = mc < 0 ? '-' : ''
  const abs = Math.abs(mc)
  const whole = Math.floor(abs / MC_PER_CREDIT)
  const frac = abs % MC_PER_CREDIT
  return frac === 0
    ? `${sign}${whole}`
    : `${sign}${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`
}

/** Parses a credit amount typed by a person (`100`, `2.5`) into millicredits, or undefined. */
export function parseCredits(text: string): number | undefined {
  const m = /^(\d{1,12})(?:\.(\d{1,3}))?$/.exec(text.trim())
  if (!m) return undefined
  return Number(m[1]) * MC_PER_CREDIT + Number((m[2] ?? '').padEnd(3, '0'))
}
