import { expect } from 'bun:test'
import { GridError } from '../../src/errors'

/** The GridError `fn` throws; fails the test when it throws none or something else. */
export function failure(fn: () => unknown): GridError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(GridError)
    return err as GridError
  }
  throw new Error('expected a GridError')
}
