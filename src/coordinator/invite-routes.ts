import { Hono } from 'hono'
import type { UserRow } from './store'
import { GridError } from '../errors'
import { CreateInvite, type NewInvite } from '../protocol/api'
import { requireOperator } from './auth'
import type { Clock, Settings } from './settings'
import type { Store } from './store'
import { parseValue, readJson } from './validate'

type Env = { Variables: { user: UserRow } }

/** How long an invite lasts unless its maker says otherwise. */
export const DEFAULT_INVITE_MS = 7 * 86_400_000

/**
 * An operator's new invite (the API's and the dashboard's): validated, then refused 409
 * `signup_closed` when nobody could use it; the grant, uses and lifetime default from the settings.
 */
export async function makeInvite(
  { store, clock, settings }: { store: Store; clock: Clock; settings: Settings },
  by: UserRow,
  input: unknown,
): Promise<NewInvite> {
  const req = parseValue(CreateInvite, input)
  if (settings.signup === 'closed') {
    throw new GridError(
      'signup_closed',
      "this coordinator runs with --signup closed, so no invite could be used: restart it with '--signup invite' first",
      { status: 409 },
    )
  }
  const now = clock.now()
  return store.invites.create(by.id, {
    grantMc: req.grantMc ?? settings.signupGrantMc,
    uses: req.uses ?? 1,
    expiresAt: now + (req.expiresInMs ?? DEFAULT_INVITE_MS),
    now,
  })
}

/** Invites (operators only): make one, list them, revoke one. */
export const inviteRoutes = ({
  store,
  clock,
  settings,
}: {
  store: Store
  clock: Clock
  settings: Settings
}) =>
  new Hono<Env>()
    .use(async (c, next) => {
      requireOperator(c.get('user'))
      await next()
    })
    .post('/', async (c) => {
      const invite = await makeInvite({ store, clock, settings }, c.get('user'), await readJson(c.req.raw))
      return c.json(invite, 201)
    })
    .get('/', async (c) => c.json(await store.invites.list(clock.now())))
    .post('/:id/revoke', async (c) => c.json(await store.invites.revoke(c.req.param('id'), clock.now())))
