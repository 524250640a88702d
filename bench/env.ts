/** A whole number from the environment (`fallback` when unset or empty), at least `min`; a bad one stops the bench. */
export function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}=${raw}: expected a whole number >= ${min}`)
  return v
}
