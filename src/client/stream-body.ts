/**
 * A request body sent as a stream (an input archive packed while it is sent): opened afresh for
 * each address tried, since a stream can be read once. `failure` is what broke the stream on
 * this side (a file that changed while it was read), reported instead of the network error it
 * causes.
 */
export class StreamBody {
  private broke: unknown

  constructor(
    private readonly make: (fail: (err: unknown) => void) => ReadableStream<Uint8Array>,
    /** The MIME type of the body. */
    readonly type: string,
  ) {}

  /** A new stream of the whole body. */
  open(): ReadableStream<Uint8Array> {
    this.broke = undefined
    return this.make((err) => (this.broke ??= err))
  }

  /** What broke the last stream on this side, if anything did. */
  failure(): unknown {
    return this.broke
  }
}
