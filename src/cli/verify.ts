import { readFileSync } from 'node:fs'
import { GridError } from '../errors'
import { ReceiptFile, verifyReceipt } from '../protocol/receipt'
import { out } from './options'
import { safe } from './render'
import { marks } from './style'

/** The flags yargs parses for this command. */
export type Flags = { receipt?: string; publicKey?: string; json?: boolean }

/** `gridx verify RECEIPT`: checks a receipt's signature offline; exit 0 only when it verifies. */
export function verify(flags: Flags): number {
  // yargs hands a lone '-' positional over as ''.
  const path = flags.receipt === undefined || flags.receipt === '' ? '-' : flags.receipt
  let text: string
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8')
  } catch {
    throw new GridError(
      'no_receipt',
      `cannot read '${path}': save one with 'gridx status ID --receipt > receipt.json'`,
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new GridError(
      'bad_receipt',
      `'${path}' is not JSON: it should be the output of 'gridx status ID --receipt'`,
    )
  }
  const file = ReceiptFile.safeParse(json)
  if (!file.success) throw new GridError('bad_receipt', `'${path}' is not a Grid-X receipt`)
  const key = flags.publicKey ?? file.data.publicKey
  const body = verifyReceipt(file.data, key)
  if (flags.json) out(JSON.stringify({ ok: body !== undefined, body: body ?? null }))
  if (!body) {
    if (!flags.json)
      out(
        `${marks().fail} the receipt does NOT verify against ${flags.publicKey ? 'the given key' : `worker ${safe(file.data.worker)}'s key`}: it was altered or signed by another key`,
      )
    return 1
  }
  if (!flags.json) {
    out(`${marks().ok} signed by worker ${safe(file.data.worker)} (${safe(body.workerId)}), key ${safe(key)}`)
    out(
      `  job ${body.jobId} attempt ${body.attempt}: ${body.outcome}${body.exitCode === null ? '' : `, exit ${body.exitCode}`}, ${body.durationMs} ms on ${body.cpus} CPU`,
    )
    out(`  stdout sha256 ${body.stdoutSha256}`)
    out(`  stderr sha256 ${body.stderrSha256}`)
    if (!flags.publicKey)
      out('  (checked against the key in the receipt; pass --public-key to check against one you trust)')
  }
  return 0
}
