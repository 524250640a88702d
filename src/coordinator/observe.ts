import type { JobState } from '../protocol/api'

/**
 * One job transition, as the coordinator that made it saw it: what the log writes a line for and
 * the metrics count. Values from users and workers (reasons, names) are raw: whoever shows them escapes.
 */
export interface Transition {
  jobId: string
  attempt: number
  /** The owner's account id, when the transition's maker knows it without a read. */
  ownerId: string | null
  /** The worker holding the attempt (assigned and later), when known; `Hub.nameOf` names it. */
  workerId: string | null
  /** The state before; null for a submission. */
  from: JobState | null
  to: JobState
  /** Why: a requeue's or failure's reason, an ending's outcome. */
  reason: string | null
  /** For a final state: how it ended (`exited`, `timeout`, `oom`, `cancelled`, `lost`...). */
  outcome?: string | undefined
  /** For a job's first assignment: how long since it was submitted (ms); unset for later attempts. */
  waitedMs?: number | undefined
  /** For an ending: how long the attempt ran (ms), as the coordinator saw it. */
  ranMs?: number | undefined
  /** For an ending: the credits settled to the worker's owner (millicredits). */
  costMc?: number | undefined
  at: number
}

/** A worker socket joined or left this coordinator. */
export interface WorkerLink {
  workerId: string
  name: string
  owner: string
  /** Set when it left: the WebSocket close code and reason. */
  close?: { code: number; reason: string } | undefined
  at: number
}

/** What the coordinator tells its log and its metrics; every method must be cheap and never throw. */
export interface Observer {
  transition(t: Transition): void
  workerJoined(w: WorkerLink): void
  workerLeft(w: WorkerLink): void
}

/** Tells several observers (the log, the metrics) the same things; a throwing one is skipped. */
export class Observers implements Observer {
  private readonly list: Observer[] = []

  /** Adds an observer; they hear things in the order they were added. */
  add(o: Observer): this {
    this.list.push(o)
    return this
  }

  transition(t: Transition): void {
    for (const o of this.list) safely(() => o.transition(t))
  }

  workerJoined(w: WorkerLink): void {
    for (const o of this.list) safely(() => o.workerJoined(w))
  }

  workerLeft(w: WorkerLink): void {
    for (const o of this.list) safely(() => o.workerLeft(w))
  }
}

/** An observer's bug must not stop the transition it observes. */
function safely(f: () => void): void {
  try {
    f()
  } catch {
    // Observers are told not to throw; one that does loses that event, nothing else.
  }
}
