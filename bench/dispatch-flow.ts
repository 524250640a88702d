// One dispatch measurement with the simulated workers and the submitting clients each in a
// process of their own (sim-fleet.ts, sim-clients.ts). Two shapes:
// - 'e2e' (the headline): the workers are connected first, then the clients submit every job
//   while they run; timed from the first submission to the last result acknowledged.
// - 'drain': the clients queue every job first, then the workers connect; timed from the first
//   job.assign to the last acknowledgement.
import { Child } from './child'
import { type BenchCoordinator, coordinatorsCpuMs, coordinatorsWrittenBytes, health } from './dispatch-grid'
import { clusterCpuMs, clusterWrittenBytes } from './pg-cluster'
import type { ClientsConfig, ClientsReport } from './sim-clients'
import type { FleetConfig, FleetReport } from './sim-fleet'

/** The shape of a flow: the issue's is 5,000 jobs, 32 clients, 4 workers x 8 slots. */
export interface FlowShape {
  jobs: number
  /** Concurrent submitting API clients. */
  clients: number
  workers: number
  slots: number
}

/** What one flow measured. */
export interface FlowResult {
  label: string
  kind: 'e2e' | 'drain'
  coordinators: number
  jobs: number
  done: number
  wallMs: number
  jobsPerSecond: number
  /** First submission sent to last one answered. */
  submitMs: number
  /** CPU ms per job: coordinators (sum), PostgreSQL (all its processes), workers' and clients' processes. */
  cpuPerJobMs: { coordinators: number; postgres: number; workers: number; clients: number }
  /**
   * Kilobytes written to storage per job: by the coordinators (their SQLite files) and by
   * PostgreSQL. Mostly whole pages (WAL frames, checkpoints), so it counts the index and table
   * pages each job's changes touch, a cost the CPU figures hide in the kernel.
   */
  writtenKBPerJob: { coordinators: number; postgres: number }
  refusedForNow: number
  /** Of the first half of the assignments, the share each user got (fair: about 1/users each). */
  firstHalfShares: number[]
  errors: string[]
}

/** A flow's result with what the correctness check and the backlog bench read. */
export interface FlowRun extends FlowResult {
  fleet: FleetReport
  clients: ClientsReport
  trickle: ClientsReport | undefined
}

/** The accounts a flow uses: the workers' owners' tokens and the submitting users' tokens. */
export interface FlowAccounts {
  owners: string[]
  users: string[]
}

/** A flow's extras (the backlog bench's). */
export interface FlowOptions {
  /** Stop once this many results are acknowledged (default: every job). */
  measure?: number
  /** While the workers run, submit this many more jobs a second, timing each (their latencies in `trickle`). */
  trickle?: number
  /** Stop after this long (ms) even short of `measure`, measuring what was done (not an error). */
  maxMs?: number
}

/** Runs one flow on `coords` (one grid) and hands back what it saw. */
export async function measureFlow(
  kind: 'e2e' | 'drain',
  label: string,
  coords: BenchCoordinator[],
  postmasterPid: number | undefined,
  shape: FlowShape,
  accounts: FlowAccounts,
  log: (line: string) => void,
  opts: FlowOptions = {},
): Promise<FlowRun> {
  const target = opts.measure ?? shape.jobs
  const errors: string[] = []
  const fleetConfig: FleetConfig = {
    urls: coords.map((c) => c.ws),
    owners: accounts.owners,
    workers: shape.workers,
    slots: shape.slots,
  }
  const clientsConfig: ClientsConfig = {
    https: coords.map((c) => c.http),
    tokens: accounts.users,
    mode: 'burst',
    jobs: shape.jobs,
    clients: shape.clients,
    ratePerSecond: 0,
  }
  const fleet = new Child('simulated workers', 'sim-fleet.ts', fleetConfig)
  const clients = new Child('submitting clients', 'sim-clients.ts', clientsConfig)
  const trickle = opts.trickle
    ? new Child('trickle of submissions', 'sim-clients.ts', {
        ...clientsConfig,
        mode: 'trickle',
        ratePerSecond: opts.trickle,
      } satisfies ClientsConfig)
    : undefined
  let acks = 0
  fleet.on('progress', (m) => void (acks = Number(m['acks'])))
  try {
    await Promise.all([clients.next('ready', 60_000), trickle?.next('ready', 60_000)])
    const cpu = () => ({
      coordinators: coordinatorsCpuMs(coords),
      postgres: postmasterPid === undefined ? 0 : clusterCpuMs(postmasterPid),
      workers: fleet.cpuMs(),
      clients: clients.cpuMs(),
      coordinatorsWritten: coordinatorsWrittenBytes(coords),
      postgresWritten: postmasterPid === undefined ? 0 : clusterWrittenBytes(postmasterPid),
    })
    let cpu0: ReturnType<typeof cpu>
    let submitted: Promise<ClientsReport>
    if (kind === 'e2e') {
      fleet.send({ type: 'start' })
      await fleet.next('ready', 60_000)
      cpu0 = cpu()
      clients.send({ type: 'start' })
      submitted = clients.next<ClientsReport>('done')
    } else {
      clients.send({ type: 'start' })
      submitted = clients.next<ClientsReport>('done')
      const s = await submitted
      log(`  ${label}: ${s.ids.length} jobs queued in ${((s.last - s.first) / 1000).toFixed(1)} s`)
      cpu0 = cpu()
      fleet.send({ type: 'start' })
      await fleet.next('ready', 60_000)
    }
    trickle?.send({ type: 'start' })
    const deadline = performance.now() + (opts.maxMs ?? Math.max(120_000, target * 50))
    let lastLog = performance.now()
    while (acks < target && performance.now() < deadline) {
      await Bun.sleep(20)
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now()
        log(`    ${acks}/${target} done`)
      }
    }
    const cpu1 = cpu()
    const sub = await submitted
    trickle?.send({ type: 'stop' })
    fleet.send({ type: 'stop' })
    const seen = await fleet.next<FleetReport>('done')
    errors.push(...sub.errors.map((e) => `submission failed: ${e}`), ...seen.refusedForGood)
    const trickled = await trickle?.next<ClientsReport>('done')
    if (seen.acks.length < target && opts.maxMs === undefined) {
      const h = await health(coords.find((c) => c.proc.exitCode === null)!.http).catch(() => undefined)
      errors.push(
        `gave up: ${seen.acks.length}/${target} jobs acknowledged${h ? ` (${h.queuedJobs} queued, ${h.runningJobs} running)` : ''}`,
      )
    }
    // Acknowledgements past the target (the workers ran on until told to stop) are not counted.
    const acked = seen.acks.slice(0, target)
    const done = acked.length
    const start = kind === 'e2e' ? sub.first : (seen.assigns[0]?.[0] ?? Number.NaN)
    const wallMs = done > 0 ? acked.reduce((a, b) => Math.max(a, b), 0) - start : Number.NaN
    const per = (k: keyof ReturnType<typeof cpu>) => (cpu1[k] - cpu0[k]) / Math.max(1, done)
    const userOf = new Map(sub.ids)
    const half = seen.assigns.slice(0, Math.floor(shape.jobs / 2))
    const firstHalfShares = accounts.users.map(
      (_, u) => half.filter((a) => userOf.get(a[1]) === u).length / Math.max(1, half.length),
    )
    return {
      label,
      kind,
      coordinators: coords.length,
      jobs: shape.jobs,
      done,
      wallMs,
      jobsPerSecond: done / (wallMs / 1000),
      submitMs: sub.last - sub.first,
      cpuPerJobMs: {
        coordinators: per('coordinators'),
        postgres: per('postgres'),
        workers: per('workers'),
        clients: per('clients'),
      },
      writtenKBPerJob: {
        coordinators: per('coordinatorsWritten') / 1024,
        postgres: per('postgresWritten') / 1024,
      },
      refusedForNow: seen.refusedForNow,
      firstHalfShares,
      errors,
      fleet: seen,
      clients: sub,
      trickle: trickled,
    }
  } finally {
    await Promise.all([fleet.stop(), clients.stop(), trickle?.stop()])
  }
}
