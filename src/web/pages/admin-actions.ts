import type { Context } from 'hono'
import { Hono } from 'hono'
import { GridError } from '../../errors'
import { grantCredits } from '../../coordinator/credits-routes'
import { makeInvite } from '../../coordinator/invite-routes'
import { formatCredits, parseCredits } from '../../protocol/credits'
import type { WebDeps, WebEnv } from '../env'
import { type Flash, setFlash } from '../flash'

/** A form field as text ('' when absent). */
async function field(c: Context<WebEnv>, name: string): Promise<string> {
  const v = (await c.req.parseBody())[name]
  return typeof v === 'string' ? v.trim() : ''
}

/** What the form says of an amount `parseCredits` refused (the API takes millicredits as numbers). */
const notCredits = (text: string): Flash => ({
  ok: false,
  text: `'${text}' is not an amount of credits: write it like 100 or 2.5`,
})

/** Runs one operator action; its outcome is shown on the operator page it redirects to (303). */
async function act(c: Context<WebEnv>, deps: WebDeps, action: () => Promise<Flash>) {
  let flash: Flash
  try {
    flash = await action()
  } catch (err) {
    if (!(err instanceof GridError) || err.status >= 500) throw err
    flash = { ok: false, text: err.message }
  }
  setFlash(c, deps, '/admin', flash)
  return c.redirect('/admin', 303)
}

/**
 * The operator's state changes, as form posts (requireSession checked the CSRF token, the
 * operator page's guard the operator right): grants and invites, through the store as the API does.
 */
export function adminActions(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>()
  app.post('/admin/grant', (c) =>
    act(c, deps, async () => {
      const amountText = await field(c, 'amount')
      const amountMc = parseCredits(amountText)
      if (amountMc === undefined) return notCredits(amountText)
      const memo = await field(c, 'memo')
      const req = await grantCredits(deps, c.get('user'), {
        user: await field(c, 'user'),
        amountMc,
        memo: memo || undefined,
      })
      return { ok: true, text: `Granted ${formatCredits(req.amountMc)} credits to ${req.user}.` }
    }),
  )
  app.post('/admin/invites', (c) =>
    act(c, deps, async () => {
      const grantText = await field(c, 'grant')
      const grantMc = grantText === '' ? undefined : parseCredits(grantText)
      if (grantText !== '' && grantMc === undefined) return notCredits(grantText)
      const usesText = await field(c, 'uses')
      const daysText = await field(c, 'days')
      const invite = await makeInvite(deps, c.get('user'), {
        grantMc,
        uses: usesText === '' ? undefined : Number(usesText),
        expiresInMs: daysText === '' ? undefined : Math.round(Number(daysText) * 86_400_000),
      })
      return {
        ok: true,
        text: `Invite ${invite.id} made: ${invite.uses} account(s), ${formatCredits(invite.grantMc)} credits each, until ${invite.expiresAt}. Give the code to the newcomer: 'gridx register --invite CODE'.`,
        code: invite.code,
      }
    }),
  )
  app.post('/admin/invites/:id/revoke', (c) =>
    act(c, deps, async () => {
      const invite = await deps.store.invites.revoke(c.req.param('id'), deps.clock.now())
      return { ok: true, text: `Invite ${invite.id} revoked.` }
    }),
  )
  return app
}
