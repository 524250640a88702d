/** The stage program, imported as a file path (bun's `with { type: 'file' }`). */
declare module '*/gridx-stage' {
  const path: string
  export default path
}
