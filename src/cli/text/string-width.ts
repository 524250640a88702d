// Stands in for the `string-width` package inside yargs' help layout (cliui, wrap-ansi); the
// build (scripts/build.ts) points them here. Bun's native width is the same measure, and it
// does not build Intl.Segmenter and a large emoji regex on every call, which was most of the
// CPU of `gridx COMMAND --help`.

/** The terminal columns `text` takes, as string-width counts them. */
export default function stringWidth(text: string, options?: Bun.StringWidthOptions): number {
  return Bun.stringWidth(text, options)
}
