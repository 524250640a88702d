import type { Hub } from '../hub'
import type { Store } from '../store'
import { GridMetrics } from './grid'
import { HttpMetrics } from './http'
import { processMetrics } from './process'
import { Registry } from './registry'

export { metricsAnswer } from './route'
export { readMetricsToken } from './token'
export { Registry } from './registry'

/** The coordinator's metrics, gathered in one registry: process, grid (an Observer) and HTTP. */
export interface CoordinatorMetrics {
  registry: Registry
  grid: GridMetrics
  http: HttpMetrics
}

/** Declares every metric of a coordinator. */
export function coordinatorMetrics(deps: {
  store: Pick<Store, 'queue' | 'credits'>
  hub: Pick<Hub, 'connected'>
  isApi: (path: string) => boolean
  startedAtMs: number
}): CoordinatorMetrics {
  const registry = new Registry()
  processMetrics(registry, deps.startedAtMs)
  const grid = new GridMetrics(registry, deps)
  const http = new HttpMetrics(registry, deps.isApi)
  return { registry, grid, http }
}
