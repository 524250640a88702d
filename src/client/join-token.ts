import { createHash } from 'node:crypto'
import { z } from 'zod'
import { GridError } from '../errors'
import { normalizeFingerprint } from './trust'

/**
 * A join token: everything a new machine needs to join a coordinator, in one string to paste.
 * `gx1_` + base64url(JSON body + the first CHECK_BYTES of its SHA-256), so a line cut short or
 * mistyped is caught before anything is tried.
 */
export interface JoinToken {
  /** Where the coordinator may be reached, best first (`--public-url`, else its interfaces). */
  urls: string[]
  /** SHA-256 of its TLS certificate (`AB:CD:…`), when it serves TLS. */
  fingerprint?: string | undefined
  /** The invite code that admits the new account, when sign-up needs one. */
  invite?: string | undefined
}

/** Version 1 of the format; a later release that changes it writes `gx2_`. */
const PREFIX = 'gx1_'
const CHECK_BYTES = 4
/** Longer than any token the format allows (16 addresses of 300 characters, an invite, a key): read no further. */
export const MAX_TOKEN_CHARS = 8192

const Body = z
  .object({
    u: z
      .array(z.url({ protocol: /^https?$/ }).max(300))
      .min(1)
      .max(16),
    f: z
      .string()
      .regex(/^[0-9A-F]{64}$/)
      .optional(),
    i: z.string().min(1).max(200).optional(),
  })
  .strict()

function check(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, CHECK_BYTES)
}

/** Writes a token; the fingerprint is stored as bare hex to keep the line short. */
export function encodeJoinToken(token: JoinToken): string {
  const fingerprint = token.fingerprint === undefined ? undefined : normalizeFingerprint(token.fingerprint)
  if (token.fingerprint !== undefined && !fingerprint)
    throw new GridError('bad_join_token', `'${token.fingerprint}' is not a SHA-256 fingerprint`)
  const body: z.infer<typeof Body> = {
    u: token.urls,
    ...(fingerprint ? { f: fingerprint.replace(/:/g, '') } : {}),
    ...(token.invite ? { i: token.invite } : {}),
  }
  const json = Buffer.from(JSON.stringify(body))
  return PREFIX + Buffer.concat([json, check(json)]).toString('base64url')
}

function damaged(why: string): GridError {
  return new GridError(
    'join_token_damaged',
    `this join token is damaged (${why}): copy the whole line again, from 'gx1_' to its end, or ask for a new one ('gridx invite --worker' on the coordinator)`,
  )
}

/** Reads a token pasted by a user; a damaged or foreign one gets an error saying what to do. */
export function decodeJoinToken(text: string): JoinToken {
  // Bounded before any regex or decoding: a token may come from anyone (a chat, a web page).
  if (text.length > MAX_TOKEN_CHARS * 2) throw damaged(`it is longer than ${MAX_TOKEN_CHARS} characters`)
  const t = text.trim()
  if (t.length > MAX_TOKEN_CHARS) throw damaged(`it is longer than ${MAX_TOKEN_CHARS} characters`)
  const version = /^gx(\d+)_/.exec(t)?.[1]
  if (version === undefined) {
    const hint = t.startsWith('gxi_')
      ? "it is an invite code: use 'gridx register --invite CODE' (or ask for a join token: 'gridx invite --worker')"
      : "join tokens start with 'gx1_'"
    throw new GridError('join_token_damaged', `this is not a join token (${hint})`)
  }
  if (`gx${version}_` !== PREFIX) {
    throw new GridError(
      'join_token_version',
      `this join token is of format ${version}, which this gridx (format 1) cannot read: install the coordinator's version of gridx ('gridx version' on it)`,
    )
  }
  const b64 = t.slice(PREFIX.length)
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) throw damaged('it holds characters a join token never has')
  const raw = Buffer.from(b64, 'base64url')
  if (raw.length <= CHECK_BYTES) throw damaged('it is too short')
  const json = raw.subarray(0, raw.length - CHECK_BYTES)
  if (!check(json).equals(raw.subarray(raw.length - CHECK_BYTES)))
    throw damaged('its checksum does not match: part of it is missing or changed')
  let parsed: unknown
  try {
    parsed = JSON.parse(json.toString('utf8'))
  } catch {
    throw damaged('its content is not readable')
  }
  const r = Body.safeParse(parsed)
  if (!r.success) throw damaged('its content is not a coordinator address and key')
  return {
    urls: r.data.u,
    ...(r.data.f ? { fingerprint: normalizeFingerprint(r.data.f) } : {}),
    ...(r.data.i ? { invite: r.data.i } : {}),
  }
}
