import { Hono } from 'hono'
import type { UserRow } from './store'
import { GridError } from '../errors'
import { requireOperator } from './auth'
import { type AuditView, type CreditsView, GrantRequest } from '../protocol/api'
import type { Clock } from './settings'
import type { Store } from './store'
import { parseValue, readJson } from './validate'

type Env = { Variables: { user: UserRow } }

/**
 * An operator's grant (the API's and the dashboard's): validated, the memo defaulting to who
 * granted; 400 for a bad request, 404 for no such user. Returns what was granted.
 */
export async function grantCredits(
  { store, clock }: { store: Store; clock: Clock },
  by: UserRow,
  input: unknown,
): Promise<GrantRequest> {
  const req = parseValue(GrantRequest, input)
  await store.credits.grant(req.user, req.amountMc, req.memo ?? `granted by ${by.name}`, clock.now())
  return req
}

/** Credits: balance and history for everyone; grants and the audit for operators. */
export const creditRoutes = ({ store, clock }: { store: Store; clock: Clock }) =>
  new Hono<Env>()
    .get('/', async (c) => {
      const user = c.get('user')
      const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 20) || 20, 1), 500)
      const beforeText = c.req.query('before')
      const before = beforeText === undefined ? undefined : Number(beforeText)
      if (before !== undefined && !Number.isInteger(before)) {
        throw new GridError('bad_request', "'before' must be a history sequence number")
      }
      const { balance, escrow, history } = await store.credits.of(user.id, limit + 1, before)
      const page = history.slice(0, limit)
      const view: CreditsView = {
        user: user.name,
        balanceMc: balance,
        escrowMc: escrow,
        history: page.map((h) => ({
          seq: h.seq,
          at: new Date(h.at).toISOString(),
          kind: h.kind,
          job: h.jobId,
          counterparty: h.counterparty,
          amountMc: h.amount,
          account: h.account,
          memo: h.memo,
        })),
        next: history.length > limit ? (page.at(-1)?.seq ?? null) : null,
      }
      return c.json(view)
    })
    .post('/grant', async (c) => {
      const user = c.get('user')
      requireOperator(user)
      const req = await grantCredits({ store, clock }, user, await readJson(c.req.raw))
      return c.json({ user: req.user, amountMc: req.amountMc }, 201)
    })
    .get('/audit', async (c) => {
      requireOperator(c.get('user'))
      const view: AuditView = {
        ...(await store.credits.audit()),
        operators: await store.accounts.operators(),
      }
      return c.json(view)
    })
