import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { z } from 'zod'
import type { WebDeps, WebEnv } from './env'
import { secureCookies, sessionToken } from './session'

/**
 * What a form's answer shows on the page it redirects to: a confirmation or the error, and an
 * invite's code (shown once). Kept in a short-lived HttpOnly cookie, never in the URL (a code in
 * a URL would stay in the history and in proxies' logs), and readable by any coordinator of the grid.
 * It is signed with the session's login token (HMAC), which only this browser and the grid know:
 * a flash another page planted, or one of another session, does not verify and is dropped.
 */
export const Flash = z.object({
  ok: z.boolean(),
  text: z.string().max(1000),
  code: z.string().max(200).optional(),
})
export type Flash = z.infer<typeof Flash>

const COOKIE = 'gridx_flash'

function mac(token: string, body: string): Buffer {
  return createHmac('sha256', `gridx-flash:${token}`).update(body).digest()
}

/** Leaves a message for the next page under `path` (nothing without a session to sign it with). */
export function setFlash(c: Context<WebEnv>, deps: WebDeps, path: string, flash: Flash): void {
  const token = sessionToken(c)
  if (token === undefined) return
  const body = Buffer.from(JSON.stringify(flash)).toString('base64url')
  setCookie(c, COOKIE, `${body}.${mac(token, body).toString('base64url')}`, {
    path,
    httpOnly: true,
    sameSite: 'Strict',
    secure: secureCookies(c, deps),
    maxAge: 120,
  })
}

/** Takes the message left for this page, if any (it is shown once). */
export function takeFlash(c: Context<WebEnv>, deps: WebDeps, path: string): Flash | undefined {
  const raw = getCookie(c, COOKIE)
  if (raw === undefined) return undefined
  deleteCookie(c, COOKIE, { path, httpOnly: true, sameSite: 'Strict', secure: secureCookies(c, deps) })
  const token = sessionToken(c)
  const [body, sig] = raw.split('.')
  if (token === undefined || body === undefined || sig === undefined) return undefined
  const want = mac(token, body)
  const got = Buffer.from(sig, 'base64url')
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined
  try {
    const r = Flash.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')))
    return r.success ? r.data : undefined
  } catch {
    return undefined
  }
}

/** The message on the page: `role=status` for a confirmation, `role=alert` for an error. */
export function FlashView(props: { flash: Flash | undefined }) {
  const f = props.flash
  if (!f) return null
  return (
    <div class={f.ok ? 'flash ok' : 'flash error'} role={f.ok ? 'status' : 'alert'}>
      <p>{f.text}</p>
      {f.code ? (
        <p>
          Code (shown only now): <code class="secret">{f.code}</code>
        </p>
      ) : null}
    </div>
  )
}
