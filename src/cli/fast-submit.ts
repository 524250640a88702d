// `gridx submit` without yargs. Evaluating and running yargs costs a submit more CPU than the
// docker CLI spends on a whole `docker run --help`, so the plain command lines people and
// scripts type (`gridx submit job.py`, `--detach`, `--image X -- cmd`) are parsed here, into the
// same flags yargs would give (test/unit/fast-submit.test.ts checks that on many lines). Anything
// else (help, an unknown or camelCase option, `-dq`, a value that starts with '-', a second
// positional, --file followed by a bare word, which yargs' arrays swallow) returns undefined and
// goes to yargs, so its answers and messages stay exactly as they were.
import type { Flags } from './submit'

type Kind = 'string' | 'number' | 'boolean' | 'array'

/** Every option of `gridx submit` (src/cli/commands/submit.ts): its kind and the keys yargs sets for it. */
const OPTIONS: Readonly<Record<string, { kind: Kind; keys: readonly string[] }>> = {
  coordinator: { kind: 'string', keys: ['coordinator', 'coordinator-ip', 'coordinatorIp'] },
  'coordinator-ip': { kind: 'string', keys: ['coordinator', 'coordinator-ip', 'coordinatorIp'] },
  context: { kind: 'string', keys: ['context'] },
  'http-port': { kind: 'number', keys: ['http-port', 'httpPort'] },
  'ws-port': { kind: 'number', keys: ['ws-port', 'wsPort'] },
  'ca-cert': { kind: 'string', keys: ['ca-cert', 'caCert'] },
  json: { kind: 'boolean', keys: ['json'] },
  image: { kind: 'string', keys: ['image'] },
  timeout: { kind: 'string', keys: ['timeout'] },
  cpus: { kind: 'string', keys: ['cpus'] },
  memory: { kind: 'string', keys: ['memory'] },
  priority: { kind: 'string', keys: ['priority'] },
  detach: { kind: 'boolean', keys: ['detach', 'd'] },
  quiet: { kind: 'boolean', keys: ['quiet', 'q'] },
  file: { kind: 'array', keys: ['file'] },
  entry: { kind: 'string', keys: ['entry'] },
  output: { kind: 'string', keys: ['output', 'o'] },
  download: { kind: 'boolean', keys: ['download'] },
  requirements: { kind: 'string', keys: ['requirements', 'r'] },
  deps: { kind: 'boolean', keys: ['deps'] },
}

/** Short options: their long names. */
const SHORT: Readonly<Record<string, string>> = { d: 'detach', q: 'quiet', o: 'output', r: 'requirements' }

/** Numbers as yargs reads them, in the plain decimal forms only (others go to yargs). */
const DECIMAL = /^(0|[1-9]\d{0,14})(\.\d{1,15})?$/

/** Words that yargs' looksLikeNumber may take for a number (a superset of it). */
const NUMBERISH = /^(-?[.\d]|0x)/i

/**
 * The flags of `gridx submit ARGS` (`args` after the word `submit`) as yargs would parse them,
 * or undefined when the line needs yargs (for its help, its checks or its messages).
 */
export function parseSubmitFast(args: readonly string[]): Flags | undefined {
  const flags: Record<string, unknown> = { json: false }
  const set = (name: string, value: unknown) => {
    for (const k of OPTIONS[name]!.keys) flags[k] = value
  }
  const files: string[] = []
  let script: string | undefined
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!
    if (token === '--') {
      const rest = args.slice(i + 1)
      // yargs turns the words after -- that look like numbers into numbers (1.50 reaches the job
      // as 1.5): such lines go to it, so that they run as they always have.
      if (rest.some((a) => NUMBERISH.test(a))) return undefined
      if (rest.length > 0) flags['--'] = rest
      break
    }
    const next = args[i + 1]
    const bareNext = next !== undefined && !next.startsWith('-')
    let name: string
    let inline: string | undefined
    if (token.startsWith('--')) {
      const eq = token.indexOf('=')
      name = eq < 0 ? token.slice(2) : token.slice(2, eq)
      inline = eq < 0 ? undefined : token.slice(eq + 1)
      const negated = name.startsWith('no-') ? OPTIONS[name.slice(3)] : undefined
      if (negated?.kind === 'boolean' && inline === undefined && !OPTIONS[name]) {
        set(name.slice(3), false)
        continue
      }
    } else if (token.startsWith('-') && token.length > 1) {
      const long = token.length === 2 ? SHORT[token[1]!] : undefined
      if (!long) return undefined
      name = long
    } else {
      if (script !== undefined) return undefined
      script = token
      continue
    }
    const option = OPTIONS[name]
    if (!option) return undefined
    if (option.kind === 'boolean') {
      // yargs takes a following true/false as the value, and --x=... as something else again.
      if (inline !== undefined || next === 'true' || next === 'false') return undefined
      set(name, true)
      continue
    }
    if (inline === undefined && !bareNext) return undefined
    const value = inline ?? next!
    if (inline === undefined) i++
    if (option.kind === 'array') {
      // yargs' arrays take every bare word that follows, and read --file=... its own way.
      if (inline !== undefined || (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')))
        return undefined
      files.push(value)
      set(name, [...files])
    } else if (option.kind === 'number') {
      if (!DECIMAL.test(value)) return undefined
      set(name, Number(value))
    } else {
      set(name, value)
    }
  }
  if (script !== undefined) flags['script'] = script
  return flags
}
