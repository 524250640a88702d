import { accessSync, constants } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { dockerEnv } from '../config'
import { escapeTerminal, lineProblem } from '../protocol/text'
import { formatBytes, formatDuration, parseDuration, parseMemory, parseSize } from '../protocol/units'
import { workerIdentity } from '../worker/identity'
import { GridError } from '../errors'
import { Agent } from '../worker/agent'
import { Environments } from '../worker/env/environments'
import { buildPolicy, shownIndex } from '../worker/policy'
import { discoverSession } from './find-coordinator'
import { note } from './options'
import type { Credentials } from '../protocol/api'
import { joinSession, joinToken, workerAccount } from './join'
import { credentials, loginAndSave, savedLogin, type Session } from './session'
import { onStopSignals } from './serve'

/** The flags yargs parses for this command. */
export type Flags = {
  coordinator?: string
  httpPort?: number
  wsPort?: number
  user?: string
  password?: string
  slots?: number
  name?: string
  drainTimeout?: string
  maxCpus?: number
  maxMemory?: string
  maxTimeout?: string
  images?: string[]
  pull?: boolean
  runtime?: string
  maxDisk?: string
  join?: string
  packages?: boolean
  packageIndex?: string
  installNetwork?: string
  envCache?: string
  packagesAllowSource?: boolean
}

/** True when this process may list `dir`. */
function canRead(dir: string): boolean {
  try {
    accessSync(dir, constants.R_OK | constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The saved login was refused: only a new login (with a password) can help. */
function savedLoginRefused(s: Session): GridError {
  return new GridError(
    'login_expired',
    `the coordinator at ${s.api.addr.httpUrl} no longer takes the saved login (it expired or was revoked): log in again with 'gridx login --coordinator ${s.api.addr.input} --user NAME', or start the worker with --user and --password`,
  )
}

/** Asks the coordinator who the saved token belongs to: it must answer, and take the token. */
async function checkSavedLogin(s: Session): Promise<void> {
  try {
    await s.api.me()
  } catch (err) {
    if (err instanceof GridError && err.code === 'unauthorized') throw savedLoginRefused(s)
    if (!(err instanceof GridError) || !err.retryable) throw err
    throw new GridError(
      err.code,
      `${err.message} The worker did not start (it uses the saved login of ${s.api.addr.httpUrl}, which this check could not confirm); run it again once the coordinator answers. As a service (deploy/gridx-worker.service) it is restarted every 10 s, so it starts as soon as the coordinator is back.`,
      { cause: err },
    )
  }
}

/** `gridx work`: log in, find Docker, connect out and run jobs until stopped. */
export async function work(
  flags: Flags,
  signals: (on: (sig: string) => void) => () => void = onStopSignals,
): Promise<number> {
  // The binary starts with the JIT held back for short commands (scripts/build.ts); a worker runs
  // for days, so its hot paths compile as usual.
  Bun.unsafe.setJITPolicy(1)
  const token = joinToken(flags)
  const s = token ? await joinSession(token, flags) : await discoverSession(flags, 'work')
  const log = (line: string) => note(`${new Date().toISOString()} ${line}`)
  const name = flags.name ?? s.config.file.name ?? hostname()
  // The coordinator refuses such a name at hello; saying so here ends at once, before a login.
  const badName = lineProblem(name, 'worker names', 64)
  if (badName) throw new GridError('bad_name', `--name ${escapeTerminal(JSON.stringify(name))}: ${badName}`)
  const drainTimeoutMs = flags.drainTimeout ? parseDuration(flags.drainTimeout, '--drain-timeout') : undefined
  const slots = flags.slots ?? s.config.file.slots ?? 2
  if (!Number.isInteger(slots) || slots < 1 || slots > 256) {
    throw new GridError('bad_slots', `--slots ${slots} is not a job count: use a whole number from 1 to 256`)
  }
  // Log in first: a wrong password or a bad address ends here, before anything starts.
  const given = s.config.user !== undefined || s.config.password !== undefined || process.stdin.isTTY
  const saved = savedLogin(s)
  let creds: Credentials | undefined
  if (token) creds = await workerAccount({ s, token })
  else if (given || !saved) await loginAndSave(s, (creds = await credentials(s.config)))
  // An account `work --join` made has its password saved: the worker logs in again with it.
  else if (saved.password) await loginAndSave(s, (creds = { user: saved.user, password: saved.password }))
  // A saved login is checked the same way: a coordinator that cannot be reached, or a login it no
  // longer takes, stops the worker at once, saying why; it never starts half-way.
  else await checkSavedLogin(s)
  await s.api.settleTrust()
  // dockerode is heavy to load; only `gridx work` pays for it.
  const { connectDocker, dockerCandidates } = await import('../worker/docker')
  const docker = dockerEnv()
  const runtime = await connectDocker(dockerCandidates(docker), docker.dockerHost)
  const engine = await runtime.info()
  // The engine's CPU picks the stage program; one this gridx does not carry ends here, before work.
  const stage = await runtime.engineStage()
  const file = s.config.file
  const maxMemory = flags.maxMemory ?? file.maxMemory
  const maxTimeout = flags.maxTimeout ?? file.maxTimeout
  const maxDisk = flags.maxDisk ?? file.maxDisk
  const envCache = flags.envCache ?? file.envCache
  const images = (flags.images ?? file.images)?.flatMap((i) => i.split(',')).map((i) => i.trim())
  const policy = buildPolicy(
    {
      maxCpus: flags.maxCpus ?? file.maxCpus,
      maxMemoryBytes: maxMemory === undefined ? undefined : parseMemory(maxMemory, '--max-memory'),
      maxTimeoutMs: maxTimeout === undefined ? undefined : parseDuration(maxTimeout, '--max-timeout'),
      images,
      pull: flags.pull ?? file.pull,
      ociRuntime: flags.runtime ?? file.runtime,
      maxDiskBytes: maxDisk === undefined ? undefined : parseSize(maxDisk, '--max-disk'),
      packages: flags.packages ?? file.packages,
      packageIndex: flags.packageIndex ?? file.packageIndex,
      installNetwork: flags.installNetwork ?? file.installNetwork,
      envCacheBytes: envCache === undefined ? undefined : parseSize(envCache, '--env-cache'),
      allowSource: flags.packagesAllowSource ?? file.packagesAllowSource,
    },
    engine,
    await runtime.localImages(),
  )
  const { id, key } = workerIdentity(s.config.home, name)
  const leftovers = await runtime.removeLeftovers(id)
  if (leftovers.length)
    log(`removed ${leftovers.length} container(s) left by an earlier run: ${leftovers.join(', ')}`)
  const pkg = policy.packages
  let envs: Environments | undefined
  if (pkg) {
    const envRuntime = runtime.envRuntime()
    if (!(await envRuntime.hasNetwork(pkg.network))) {
      throw new GridError(
        'no_install_network',
        `Docker has no network '${pkg.network}' for --install-network: create it ('docker network create ${pkg.network}'), name another, or run with --no-packages`,
      )
    }
    envs = new Environments({
      runtime: envRuntime,
      workerId: id,
      workerName: name,
      home: s.config.home,
      policy: pkg,
      log,
    })
    const half = await envs.removeLeftovers()
    if (half.length) log(`removed ${half.length} half-made package environment(s) left by an earlier run`)
  }
  log(
    `Docker ${engine.version} (linux/${stage.arch}) at ${engine.endpoint}: ${engine.cpus} CPUs, ${formatBytes(engine.memoryBytes)}`,
  )
  const limit = policy.offer.maxTimeoutMs === null ? 'no limit' : formatDuration(policy.offer.maxTimeoutMs)
  log(
    `policy: jobs of up to ${policy.cpus} CPUs, ${formatBytes(policy.memoryBytes)}, timeout ${limit}, working directory ${formatBytes(policy.maxDiskBytes)} (in memory); images ${policy.offer.images.join(' ')}; pulls ${policy.pull ? 'allowed' : 'off'}${policy.ociRuntime ? `; runtime ${policy.ociRuntime}` : ''}; ${pkg ? `packages from ${shownIndex(pkg.index)} over network ${pkg.network}, ${pkg.allowSource ? 'source builds allowed' : 'wheels only'}, cache ${formatBytes(pkg.cacheBytes)}` : 'packages off'}`,
  )
  // A job's /out (on disk) is watched by measuring its volume from here: say so when that cannot work.
  const volumes = engine.rootDir ? join(engine.rootDir, 'volumes') : undefined
  if (!volumes || !canRead(volumes)) {
    log(
      `warning: cannot read Docker's volumes${volumes ? ` (${volumes})` : ''} from this user, so a job's /out cannot be measured while it runs: it is checked against the limit only when read back, and each file is limited to 1 GiB. Run the worker as root on the Docker host to stop a job as soon as its /out is too big`,
    )
  }
  // File transfers use the token of the current login (the agent refreshes it when refused).
  const api = () => {
    const login = savedLogin(s)
    if (login) s.api.setToken(login.token)
    return s.api
  }
  // Every coordinator of the grid, the one that answered the login first; each with its own trust.
  const list = s.api.endpoints
  const eps = list.all.map((_, i) => list.all[(list.index + i) % list.all.length]!)
  if (eps.length > 1)
    log(
      `coordinators: ${eps.map((e) => e.addr.httpUrl).join(', ')} (starting at the first; the next is used when one fails)`,
    )
  const agent = new Agent({
    addr: s.api.addr,
    trust: s.api.trust,
    coordinators: eps.map((e) => e.addr),
    trustFor: (addr) => s.api.trustOf(eps.find((e) => e.addr === addr)!),
    onConnected: (addr) => {
      list.prefer(addr.httpUrl)
      s.creds.noteAnswered(addr.httpUrl)
    },
    proxy: s.config.proxy,
    workerId: id,
    name,
    slots,
    engine,
    runtime,
    policy,
    envs,
    transfer: {
      inputs: (lease) => api().leaseInputs(lease),
      putOutputs: (lease, archive) => api().putLeaseOutputs(lease, archive),
    },
    key,
    drainTimeoutMs,
    log,
    token: async (refresh) => {
      if (refresh && creds) await loginAndSave(s, creds)
      else if (refresh) throw savedLoginRefused(s)
      const login = savedLogin(s)
      if (!login) throw new GridError('not_logged_in', "not logged in: run 'gridx login' first")
      return login.token
    },
  })
  // First SIGTERM/SIGINT drains (running jobs finish); a second hands them back and stops.
  const onSignal = (sig: string) => {
    log(`received ${sig}`)
    agent.drain()
  }
  const unsubscribe = signals(onSignal)
  try {
    await agent.run()
  } finally {
    unsubscribe()
  }
  return 0
}
