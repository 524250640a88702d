/** The Grid-X release, reported by `--version` and `/health`. */
export const VERSION = '0.1.0'
