// Compiles gridx into one executable: `make build` (native) and scripts/release.sh (each target).
//   bun scripts/build.ts [--target bun-linux-x64] --outfile dist/gridx src/main.ts FILE...
// The files after the entry point are embedded (the stage programs; Bun.embeddedFiles).
// Why each setting (the CLI's start cost is measured by bench/cli-start.ts):
// - bytecode + minify: no parsing at start.
// - splitting: each command's code is a chunk of its own, loaded by the command's dynamic
//   import, so a client command never evaluates the coordinator's modules or their built-in
//   imports (node:tls loads the root certificates, bun:sql, node:readline...), which a single
//   chunk would import at start.
// - string-width and wrap-ansi inside yargs' help layout become Bun's native ones
//   (src/cli/text/*): the same widths, without the per-call Intl.Segmenter and emoji regex that
//   were most of the CPU of `gridx COMMAND --help`.
// - jitPolicy (JIT_POLICY below): a short command's start code is not JIT-compiled.
// - THREADS: each Worker's entry is an entry point of its own, as Bun's executables need.
// - --max-http-header-size: Bun refuses request headers past it with an empty 431; at 64 KiB
//   the coordinator's own check (16 KiB, src/coordinator/http-guard.ts) answers first, in JSON.
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import type { BunPlugin } from 'bun'

const ROOT = resolve(import.meta.dir, '..')
/**
 * JavaScriptCore's tier-up thresholds, times this, when the binary starts: code that runs once at
 * start stays in the interpreter instead of being compiled. A third of a short command's CPU was
 * JIT compiling (a submit 30 -> 20 ms, a --help 21 -> 15 ms, bench/cli-start.ts); `gridx serve` and
 * `gridx work` set it back to 1 as they start (src/cli/serve.ts, work.ts).
 */
const JIT_POLICY = 30

function usage(msg: string): never {
  console.error(`build: ${msg}\nusage: bun scripts/build.ts [--target T] --outfile OUT ENTRY [FILE...]`)
  process.exit(2)
}

const args = process.argv.slice(2)
let outfile: string | undefined
let target: string | undefined
const inputs: string[] = []
for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  const [name, inline] =
    a.startsWith('--') && a.includes('=')
      ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
      : [a, undefined]
  const value = () => inline ?? args[++i]
  if (name === '--outfile') outfile = value()
  else if (name === '--target') target = value()
  else if (name.startsWith('--')) usage(`unknown option ${a}`)
  else inputs.push(a)
}
if (!outfile) usage('--outfile is missing')
if (inputs.length === 0) usage('no entry point')

/**
 * The entry files of Worker threads (src/coordinator/receipt-checker.ts starts the receipt
 * thread): compiled in as entry points of their own, found in the binary by their path from the
 * repository (`root` below, whatever other files are given).
 */
const THREADS = ['src/coordinator/receipt-thread.ts'].map((f) => resolve(ROOT, f))

/** Packages whose imports of string-width and wrap-ansi are redirected (yargs' help layout). */
const LAYOUT = /[\\/]node_modules[\\/](yargs|cliui|wrap-ansi)[\\/]/
const NATIVE: Record<string, string> = {
  'string-width': resolve(ROOT, 'src/cli/text/string-width.ts'),
  'wrap-ansi': resolve(ROOT, 'src/cli/text/wrap-ansi.ts'),
}

const nativeText: BunPlugin = {
  name: 'gridx-native-text',
  setup(build) {
    build.onResolve({ filter: /^(string-width|wrap-ansi)$/ }, (a) =>
      LAYOUT.test(a.importer) ? { path: NATIVE[a.path]! } : undefined,
    )
  },
}

const result = await Bun.build({
  entrypoints: [...inputs, ...THREADS],
  root: ROOT,
  compile: {
    outfile,
    execArgv: ['--max-http-header-size=65536'],
    jitPolicy: JIT_POLICY,
    ...(target ? { target: target as Bun.Build.CompileTarget } : {}),
  },
  minify: true,
  bytecode: true,
  format: 'esm',
  splitting: true,
  sourcemap: 'linked',
  plugins: [nativeText],
  throw: false,
})
if (!result.success) {
  for (const log of result.logs) console.error(log)
  process.exit(1)
}
// The chunks' source maps are inside the executable (stack traces name src/ files); the copies
// Bun also writes beside it are of no use.
for (const o of result.outputs) if (o.path.endsWith('.js.map')) rmSync(o.path, { force: true })
console.log(`build: ${outfile}`)
