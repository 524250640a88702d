import { describe } from '../errors'
import type { ContainerRuntime } from './runtime'

/** An image ready to run jobs from, or why it is not. */
export type ImageReady = { ok: true; ref: string } | { ok: false; error: string }

/** Seconds between pull progress lines on the worker's console. */
const PROGRESS_EVERY_MS = 2000

/**
 * Makes job images ready once per image: present (pulled if the owner allows it) and prepared
 * (see `ContainerRuntime.prepare`). Only success is remembered: an image may be pulled later.
 */
export class ImageCache {
  private readonly known = new Map<string, Promise<ImageReady>>()

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly pull: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** The prepared reference of `image`, pulling it first when it is missing and pulls are allowed. */
  ready(image: string): Promise<ImageReady> {
    const known = this.known.get(image)
    if (known) return known
    const check = this.make(image)
    this.known.set(image, check)
    void check.then(
      (r) => (r.ok ? undefined : this.known.delete(image)),
      () => this.known.delete(image),
    )
    return check
  }

  private async make(image: string): Promise<ImageReady> {
    if (!(await this.runtime.hasImage(image))) {
      if (!this.pull) {
        return {
          ok: false,
          error: `image '${image}' is not on this worker and its owner does not allow pulling images (gridx work --pull): use an image the worker has`,
        }
      }
      this.log(`image ${image} is not here; pulling it`)
      try {
        await this.runtime.pull(image, this.progress(image))
        this.log(`pulled ${image}`)
      } catch (err) {
        this.log(`pull ${image} failed: ${describe(err)}`)
        return { ok: false, error: `image '${image}' could not be pulled on the worker: ${pullReason(err)}` }
      }
    }
    return { ok: true, ref: await this.runtime.prepare(image) }
  }

  /** Pull progress as a few lines per layer state, not one per progress event. */
  private progress(image: string): (line: string) => void {
    let last = 0
    let lastLine = ''
    return (line) => {
      const now = Date.now()
      const important = !/Downloading|Extracting|Waiting/.test(line)
      if (line === lastLine || (!important && now - last < PROGRESS_EVERY_MS)) return
      last = now
      lastLine = line
      this.log(`pull ${image}: ${line}`)
    }
  }
}

/** The reason a pull failed, in words a submitter can act on. */
function pullReason(err: unknown): string {
  const text = describe(err)
  if (/not found|manifest unknown|does not exist|pull access denied/i.test(text)) {
    return `no such image in its registry (${text}): check the name and tag`
  }
  if (/ENOTFOUND|EAI_AGAIN|timeout|i\/o timeout|dial tcp|connection refused|no such host/i.test(text)) {
    return `the worker cannot reach the registry (${text})`
  }
  return text
}
