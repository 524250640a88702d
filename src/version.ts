/** The Grid-X release, reported by `gridx version` and `/health`. */
export const VERSION = '0.1.0'

/**
 * The platform a gridx binary is for, as release files name it (`linux-x64`, `macos-arm64`,
 * `windows-x64`): the OS and CPU of the running program, which a compiled binary fixes.
 */
export function platformName(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): string {
  const os = platform === 'darwin' ? 'macos' : platform === 'win32' ? 'windows' : platform
  return `${os}-${arch}`
}
