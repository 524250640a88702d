import { GridError } from '../errors'
import { formatBytes, formatDuration } from '../protocol/units'
import type { Admission } from './blobs'
import type { Clock, Settings } from './settings'
import type { Store } from './store'

/** What an upload is, for the refusal: the thing measured and what the user can do instead. */
export interface QuotaSubject {
  /** "this upload", "the job's /out files". */
  thing: string
  /** "use smaller inputs". */
  instead: string
}

/** An admission into the blob store that must be released when its upload is over. */
export type QuotaGrant = Admission & { release(): void }

const sum = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)

/**
 * Each user's storage quota on the coordinator's disk (`gridx serve --quota`): the uploads and
 * job /out archives kept on their behalf, plus uploads of theirs still streaming in. Checked on
 * the declared size before a byte is stored, while the upload streams, and on its digest before
 * it is kept, so the same archive uploaded again takes no more room.
 */
export class StorageQuota {
  private readonly streaming = new Map<string, number>()

  constructor(
    private readonly store: Store,
    private readonly settings: Settings,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens an upload of `declared` bytes (its Content-Length, undefined when not given) kept for
   * `ownerId`: refused with 413 quota_exceeded at once when it cannot fit.
   */
  async open(ownerId: string, declared: number | undefined, subject: QuotaSubject): Promise<QuotaGrant> {
    const quota = this.settings.quotaBytes
    const kept = await this.kept(ownerId)
    const used = sum(kept) + (this.streaming.get(ownerId) ?? 0)
    // An archive already kept takes no more room: an upload of exactly its size may be it again
    // (its digest, known at the end, decides).
    const maybeKept = declared !== undefined && [...kept.values()].includes(declared) ? declared : 0
    const roomBytes = Math.max(0, quota - used) + maybeKept
    if (declared !== undefined && declared > roomBytes) throw this.exceeded(used, declared, subject)
    const reserved = declared ?? roomBytes
    this.reserve(ownerId, reserved)
    let open = true
    return {
      roomBytes,
      refuse: () => this.exceeded(used, roomBytes, subject, 'more than '),
      admit: async ({ sha256, bytes }) => {
        const now = await this.kept(ownerId)
        if (now.has(sha256)) return
        const others = (this.streaming.get(ownerId) ?? 0) - reserved
        const usedNow = sum(now) + Math.max(0, others)
        if (usedNow + bytes > quota) throw this.exceeded(usedNow, bytes, subject)
      },
      release: () => {
        if (open) this.reserve(ownerId, -reserved)
        open = false
      },
    }
  }

  private async kept(ownerId: string): Promise<Map<string, number>> {
    return await this.store.files.keptArchives(ownerId, this.clock.now() - this.settings.keepFilesMs)
  }

  private reserve(ownerId: string, bytes: number): void {
    const left = (this.streaming.get(ownerId) ?? 0) + bytes
    if (left > 0) this.streaming.set(ownerId, left)
    else this.streaming.delete(ownerId)
  }

  private exceeded(used: number, bytes: number, subject: QuotaSubject, atLeast = ''): GridError {
    const keep = this.settings.keepFilesMs
    const kept = keep % 86_400_000 === 0 ? `${keep / 86_400_000} day(s)` : formatDuration(keep)
    return new GridError(
      'quota_exceeded',
      `storage quota exceeded: you keep ${formatBytes(used)} on this coordinator (uploads and job /out files), ${subject.thing} is ${atLeast}${formatBytes(bytes)} and your quota is ${formatBytes(this.settings.quotaBytes)}: wait for older files to expire (they are kept ${kept}, gridx serve --keep-files) or ${subject.instead}`,
      { status: 413 },
    )
  }
}
