import type { Context } from 'hono'
import { Hono } from 'hono'
import { GridError } from '../../errors'
import { DEFAULT_INVITE_MS } from '../../coordinator/invite-routes'
import { CreateInvite, GrantRequest } from '../../protocol/api'
import { formatCredits, parseCredits } from '../../protocol/credits'
import type { WebDeps, WebEnv } from '../env'
import { type Flash, setFlash } from '../flash'

/** A form field as text ('' when absent). */
async function field(c: Context<WebEnv>, name: string): Promise<string> {
  const v = (await c.req.parseBody())[name]
  return typeof v === 'string' ? v.trim() : ''
}

/** The first problem zod found, as the API words it (`field: message`). */
function problem(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  const issue = issues[0]
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  return `${where}${issue?.message ?? 'invalid form'}`
}

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
      if (amountMc === undefined)
        return { ok: false, text: `'${amountText}' is not an amount of credits: write it like 100 or 2.5` }
      const memo = await field(c, 'memo')
      const req = GrantRequest.safeParse({ user: await field(c, 'user'), amountMc, memo: memo || undefined })
      if (!req.success) return { ok: false, text: problem(req.error.issues) }
      const by = c.get('user').name
      await deps.store.credits.grant(
        req.data.user,
        req.data.amountMc,
        req.data.memo ?? `granted by ${by}`,
        deps.clock.now(),
      )
      return { ok: true, text: `Granted ${formatCredits(req.data.amountMc)} credits to ${req.data.user}.` }
    }),
  )
  app.post('/admin/invites', (c) =>
    act(c, deps, async () => {
      const grantText = await field(c, 'grant')
      const grantMc = grantText === '' ? undefined : parseCredits(grantText)
      if (grantText !== '' && grantMc === undefined)
        return { ok: false, text: `'${grantText}' is not an amount of credits: write it like 100 or 2.5` }
      const usesText = await field(c, 'uses')
      const daysText = await field(c, 'days')
      const req = CreateInvite.safeParse({
        grantMc,
        uses: usesText === '' ? undefined : Number(usesText),
        expiresInMs: daysText === '' ? undefined : Math.round(Number(daysText) * 86_400_000),
      })
      if (!req.success) return { ok: false, text: problem(req.error.issues) }
      if (deps.settings.signup === 'closed') {
        return {
          ok: false,
          text: "this coordinator runs with --signup closed, so no invite could be used: restart it with '--signup invite' first",
        }
      }
      const now = deps.clock.now()
      const invite = await deps.store.invites.create(c.get('user').id, {
        grantMc: req.data.grantMc ?? deps.settings.signupGrantMc,
        uses: req.data.uses ?? 1,
        expiresAt: now + (req.data.expiresInMs ?? DEFAULT_INVITE_MS),
        now,
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
