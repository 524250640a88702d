/** `AB:CD:…` (the form of `X509Certificate.fingerprint256`) from any spelling of a SHA-256 fingerprint, or undefined when it is not one. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.replace(/[:\s]/g, '').toUpperCase()
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined
  return hex.match(/../g)!.join(':')
}
