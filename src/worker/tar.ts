/** One entry of a tar archive built in memory. */
export interface TarEntry {
  path: string
  /** Omitted for a directory. */
  data?: Uint8Array
  mode: number
  uid: number
  gid: number
}

const enc = new TextEncoder()

function header(entry: TarEntry, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(512)
  const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off)
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0'
  const isDir = entry.data === undefined
  const name = isDir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path
  if (enc.encode(name).length > 100) throw new Error(`tar path too long: ${name}`)
  put(name, 0, 100)
  put(oct(entry.mode, 8), 100, 8)
  put(oct(entry.uid, 8), 108, 8)
  put(oct(entry.gid, 8), 116, 8)
  put(oct(size, 12), 124, 12)
  put(oct(mtime, 12), 136, 12)
  put('        ', 148, 8)
  h[156] = isDir ? 53 : 48 // '5' directory, '0' file
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const b of h) sum += b
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return h
}

/** A ustar archive of the given entries, for Docker's putArchive. */
export function tar(entries: TarEntry[]): Buffer {
  const mtime = Math.floor(Date.now() / 1000)
  const parts: Uint8Array[] = []
  for (const e of entries) {
    const size = e.data?.length ?? 0
    parts.push(header(e, size, mtime))
    if (e.data) {
      parts.push(e.data)
      const pad = (512 - (size % 512)) % 512
      if (pad) parts.push(new Uint8Array(pad))
    }
  }
  parts.push(new Uint8Array(1024))
  return Buffer.concat(parts)
}
