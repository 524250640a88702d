import type { DependentsSettled, Store, SweepKey } from './store'
import type { Clock } from './settings'
import { FIRST_KEY } from './store/workflow-rules'

/** Jobs one step of the sweep decides at most: the rest wait for its next run. */
export const SWEEP_PAGE = 1000

/**
 * How long after a job ended the sweep looks at its dependents a second time: long enough for a
 * submission `--after` it that raced its ending to have committed, and for another coordinator's
 * clock to be that far behind.
 */
export const SETTLE_LAG_MS = 60_000

/**
 * How often the pass over every held job begins again: the bound on a wait no look at what ended
 * caught (an ending committed, or dated by a clock, more than SETTLE_LAG_MS behind the sweep).
 */
export const PASS_EVERY_MS = 10 * 60_000

/**
 * The leader's sweep of jobs waiting for others (`--after`), for what the coordinator that ended
 * a dependency did not settle: it went down first, or a submission raced the ending. Each run does
 * a bounded amount of work, whatever the number of waiting jobs:
 * - after a start, on becoming the leader and every PASS_EVERY_MS, a pass over every held job,
 *   a page a run;
 * - the dependents of jobs ended since the last run;
 * - those of jobs ended `SETTLE_LAG_MS` ago, once more.
 */
export class WaitingSweep {
  /** Where the pass over every held job is; undefined once it is done. */
  private pass: SweepKey | undefined = FIRST_KEY
  /** When the last pass began. */
  private passBegan = 0
  /** Where each look at what ended is: the one at each run, and the one SETTLE_LAG_MS behind. */
  private readonly ended = { prompt: FIRST_KEY, late: FIRST_KEY }

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly announce: (settled: DependentsSettled) => void,
  ) {
    this.restart()
  }

  /** Starts over, as after a start: this coordinator has just become the one that sweeps. */
  restart(): void {
    this.beginPass()
    this.ended.prompt = this.ended.late = { at: this.clock.now() - SETTLE_LAG_MS, id: '' }
  }

  private beginPass(): void {
    this.pass = FIRST_KEY
    this.passBegan = this.clock.now()
  }

  /** One run: how many waiting jobs it released or cancelled. A failed step is tried again next run. */
  async run(): Promise<number> {
    const { workflows } = this.store
    let decided = 0
    if (!this.pass && this.clock.now() - this.passBegan >= PASS_EVERY_MS) this.beginPass()
    if (this.pass) {
      const page = await workflows.heldPage(this.pass, SWEEP_PAGE)
      if (page.length > 0) decided += this.tell(await workflows.settleHeld(ids(page), this.clock.now()))
      this.pass = page.length < SWEEP_PAGE ? undefined : page.at(-1)
    }
    const now = this.clock.now()
    for (const [look, until] of [
      ['prompt', now],
      ['late', now - SETTLE_LAG_MS],
    ] as const) {
      const page = await workflows.endedWithDependents(this.ended[look], until, SWEEP_PAGE)
      if (page.length === 0) continue
      decided += this.tell(await workflows.settleDependents(ids(page), now))
      this.ended[look] = page.at(-1)!
    }
    return decided
  }

  private tell(settled: DependentsSettled): number {
    this.announce(settled)
    return settled.released.length + settled.cancelled.length
  }
}

function ids(keys: readonly SweepKey[]): string[] {
  return keys.map((k) => k.id)
}
