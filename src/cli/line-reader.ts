import type { Interface } from 'node:readline'
import { GridError } from '../errors'

// One reader over stdin for the whole process: reading stdin to its end once per prompt (an
// async iterator that returns early) destroys the stream, so a second prompt got an AbortError.
let reader: Interface | undefined
// Lines typed ahead of their prompt wait here, so a pasted "user\npassword\n" is not lost.
const typedAhead: string[] = []
let waiting: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined
let ended = false
// Echo goes through this gate so a password is read without being shown.
let muted = false

// node:readline and node:stream load at the first prompt, not with every command that might ask.
async function lineReader(): Promise<Interface> {
  if (reader) return reader
  const [{ createInterface }, { Writable }] = await Promise.all([
    import('node:readline'),
    import('node:stream'),
  ])
  if (reader) return reader
  const echo = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk)
      done()
    },
  })
  const rl = createInterface({ input: process.stdin, output: echo, terminal: process.stdin.isTTY === true })
  rl.on('line', (line: string) => {
    if (waiting) waiting.resolve(line)
    else typedAhead.push(line)
  })
  // In terminal mode Ctrl-C reaches readline as a key, not as a signal.
  rl.on('SIGINT', () => waiting?.reject(new GridError('interrupted', 'interrupted')))
  rl.on('close', () => {
    ended = true
    waiting?.resolve('')
  })
  reader = rl
  return rl
}

/** Reads one line from stdin, shown as typed unless `hidden` (then nothing is echoed). */
export async function readLine(question: string, hidden: boolean): Promise<string> {
  const rl = await lineReader()
  process.stderr.write(question)
  const ready = typedAhead.shift()
  if (ready !== undefined || ended) {
    if (hidden) process.stderr.write('\n')
    return ready ?? ''
  }
  muted = hidden
  try {
    return await new Promise<string>((resolve, reject) => {
      waiting = { resolve, reject }
      rl.resume()
    })
  } finally {
    waiting = undefined
    muted = false
    if (hidden) process.stderr.write('\n')
    if (process.stdin.isTTY === true && !ended) {
      // On a terminal the reader holds it in raw mode, where Ctrl-C is a key rather than a
      // signal: closing it (stdin itself stays open) gives the terminal back for the next one.
      rl.removeAllListeners('close')
      rl.close()
      reader = undefined
    } else if (!ended) {
      // Paused, stdin does not keep the process alive.
      rl.pause()
    }
  }
}
