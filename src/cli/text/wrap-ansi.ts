// Stands in for the `wrap-ansi` package inside yargs' help layout (cliui); the build
// (scripts/build.ts) points it here. Bun.wrapAnsi is Bun's native port of wrap-ansi, with the
// same options, without its per-call string-width work.

/** `text` wrapped at `columns`, keeping ANSI escapes intact, as wrap-ansi does. */
export default function wrapAnsi(text: string, columns: number, options?: Bun.WrapAnsiOptions): string {
  return Bun.wrapAnsi(text, columns, options)
}
