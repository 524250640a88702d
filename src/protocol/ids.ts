/** A random id that people can type: 12 characters of lowercase base32 (60 bits). */
export function newId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789'
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return Array.from(bytes, (b) => alphabet[b % 32]).join('')
}
