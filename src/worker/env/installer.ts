import { z } from 'zod'
import { ENV_SITE, TOOL_INPUT_DIR } from './runtime'

/** What a probe of the image's Python prints (one JSON line). */
export const ProbeFacts = z.object({
  python: z.string().max(64),
  platform: z.string().max(200),
  pip: z.boolean(),
  /** `uv` on PATH (`path`), as a module of the image's Python (`module`), or absent. */
  uv: z.enum(['path', 'module', 'none']),
})
/** The image's Python as the probe found it. */
export type ProbeFacts = z.infer<typeof ProbeFacts>

/** The probe, run by the image's own python3 with no network. */
export const PROBE_SCRIPT = [
  'import json, platform, shutil, sysconfig, importlib.util as u',
  "libc = '-'.join(platform.libc_ver()) or 'unknown-libc'",
  "tag = '/'.join([sysconfig.get_platform(), sysconfig.get_config_var('SOABI') or platform.python_implementation(), libc])",
  "uv = 'path' if shutil.which('uv') else ('module' if u.find_spec('uv') else 'none')",
  "print(json.dumps({'python': platform.python_version(), 'platform': tag, 'pip': u.find_spec('pip') is not None, 'uv': uv}))",
].join('\n')

/** The requirement list's path inside the install container. */
export const REQUIREMENTS_FILE = `${TOOL_INPUT_DIR}/requirements.txt`

/** The marker line the install driver prints after a successful install: the environment's bytes. */
export const SIZE_MARKER = 'gridx-env-bytes '

/**
 * Runs the installer (argv after `-c`), passing its output through, then measures what it put in
 * the environment and prints it after the marker: the worker may not be able to read volumes.
 */
const DRIVER = [
  'import os, subprocess, sys',
  'r = subprocess.call(sys.argv[1:])',
  'if r == 0:',
  '    n = 0',
  `    for d, _, fs in os.walk(${JSON.stringify(ENV_SITE)}):`,
  '        for f in fs:',
  '            try: n += max(os.lstat(os.path.join(d, f)).st_blocks * 512, 0)',
  '            except OSError: pass',
  `    print('\\n${SIZE_MARKER}%d' % n, flush=True)`,
  'sys.exit(r)',
].join('\n')

/** The owner's choices an install follows. */
export interface InstallChoices {
  index: string
  allowSource: boolean
}

/** The installer and its arguments, or undefined when the image has neither uv nor pip. */
export function installCommand(
  facts: ProbeFacts,
  c: InstallChoices,
): { tool: 'uv' | 'pip'; cmd: string[] } | undefined {
  const url = new URL(c.index)
  const binary = c.allowSource ? [] : ['--only-binary', ':all:']
  if (facts.uv !== 'none') {
    const uv = facts.uv === 'path' ? ['uv'] : ['python3', '-m', 'uv']
    const args = [...uv, 'pip', 'install', '--python', 'python3', '--target', ENV_SITE, '--no-cache']
    const insecure = url.protocol === 'http:' ? ['--allow-insecure-host', url.host] : []
    const build = c.allowSource ? [] : ['--no-build']
    return {
      tool: 'uv',
      cmd: [
        'python3',
        '-u',
        '-c',
        DRIVER,
        ...args,
        '--index-url',
        c.index,
        ...insecure,
        ...build,
        '-r',
        REQUIREMENTS_FILE,
      ],
    }
  }
  if (!facts.pip) return undefined
  const trusted = url.protocol === 'http:' ? ['--trusted-host', url.host] : []
  const args = [
    'python3',
    '-m',
    'pip',
    'install',
    '--target',
    ENV_SITE,
    '--no-cache-dir',
    '--disable-pip-version-check',
    '--no-input',
    '--no-color',
    '--progress-bar',
    'off',
    '--index-url',
    c.index,
    ...trusted,
    ...binary,
    '-r',
    REQUIREMENTS_FILE,
  ]
  return { tool: 'pip', cmd: ['python3', '-u', '-c', DRIVER, ...args] }
}

/** What the installer's output says went wrong: `retryable` false when the packages are the problem. */
export function classifyFailure(output: string): { retryable: boolean; why: string } {
  // The node's own trouble first: an unreachable index also ends in "no matching distribution".
  const node: [RegExp, string][] = [
    [/No space left on device/i, 'the worker ran out of disk space'],
    [
      /Temporary failure in name resolution|Name or service not known|nodename nor servname|dns error|failed to lookup address/i,
      "the package index's name does not resolve from this worker",
    ],
    [
      /NewConnectionError|Connection refused|Failed to establish a new connection|Network is unreachable|No route to host|ConnectTimeoutError|Read timed out|timed out|error sending request|Failed to fetch|Could not fetch URL|ProxyError|SSLError|certificate verify failed/i,
      'the package index is unreachable from this worker',
    ],
    [/\b50[0-9]\b.*(Server Error|Service Unavailable|Bad Gateway)/i, 'the package index failed'],
  ]
  for (const [re, why] of node) if (re.test(output)) return { retryable: true, why }
  const pkg: [RegExp, string][] = [
    [
      /ResolutionImpossible|conflicting dependencies|No solution found when resolving/i,
      'the requirements conflict',
    ],
    [/requires a different Python|Requires-Python/i, "a package does not support the image's Python"],
    [/is not a supported wheel on this platform/i, 'a wheel does not fit this platform'],
    [
      /No matching distribution found|Could not find a version that satisfies|not found in the package registry|was not found in the provided package locations|no wheels? (with a matching|are available)|has no usable wheels/i,
      'no matching package (name, version, or a wheel for this platform and Python) on the index',
    ],
    [/invalid requirement|Invalid requirement/i, 'a requirement is not valid'],
  ]
  for (const [re, why] of pkg) if (re.test(output)) return { retryable: false, why }
  return { retryable: true, why: 'the installer failed' }
}
