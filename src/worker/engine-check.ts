import { existsSync } from 'node:fs'
import { describe, GridError } from '../errors'
import { type CheckResult, fail, ok, skip, warn } from '../protocol/doctor'
import { imageAllowed } from '../protocol/images'
import { formatBytes } from '../protocol/units'
import { connectDocker, type DockerRuntime } from './docker'

/** What the Docker checks need: where to look, and the worker policy's images, pulls and runtime. */
export interface EngineCheckOptions {
  /** Where to look for the engine (`dockerCandidates`). */
  candidates: string[]
  /** DOCKER_HOST, if set: a missing engine there is blamed on the variable. */
  dockerHost?: string | undefined
  /** The worker's image allowlist (`*` wildcards). */
  allow: readonly string[]
  /** Whether the worker may pull missing images. */
  pull: boolean
  /** An image submitters use unless they name one; tried for pulling when the allowlist allows it. */
  defaultImage: string
  /** The OCI runtime jobs run under (`--runtime`), if not the engine's default. */
  ociRuntime: string | undefined
  /** A worker host must have a working engine and its images; a submit-only machine need not. */
  worker: boolean
  /** Deadline of each engine call. */
  timeoutMs: number
  /** Deadline of the throw-away container, which may take a while on a busy machine. */
  runTimeoutMs: number
}

/** True when some candidate endpoint exists (a socket file, or a TCP/pipe address). */
export function dockerFound(candidates: string[]): boolean {
  return candidates.some((c) => !c.startsWith('unix://') || existsSync(c.slice('unix://'.length)))
}

async function deadline<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: Timer | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GridError('timeout', `${what} took longer than ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Splits connectDocker's "what (details): fix" into the two halves of a check line. */
function engineFailure(err: unknown): CheckResult {
  const message = describe(err)
  const i = message.lastIndexOf('): ')
  if (i < 0)
    return fail('docker', message, `start Docker ('sudo systemctl start docker'), or set DOCKER_HOST`)
  return fail('docker', message.slice(0, i + 1), message.slice(i + 3))
}

/** The Docker engine of a worker host: found, its version, the policy's images, a throw-away container. */
export async function checkEngine(o: EngineCheckOptions): Promise<CheckResult[]> {
  if (!o.worker && !dockerFound(o.candidates)) {
    return [
      skip(
        'docker',
        `no Docker engine found (looked for ${o.candidates.join(', ')}); only a worker needs one (check one with --worker)`,
      ),
    ]
  }
  let runtime: DockerRuntime
  try {
    runtime = await deadline(o.timeoutMs, 'connecting to Docker', connectDocker(o.candidates, o.dockerHost))
  } catch (err) {
    const why = 'Docker is not available (see docker)'
    return [engineFailure(err), skip('docker version', why), skip('images', why), skip('docker run', why)]
  }
  const results: CheckResult[] = [ok('docker', `the Docker engine answers at ${runtime.endpoint}`)]
  try {
    const info = await deadline(o.timeoutMs, 'asking Docker for its version', runtime.info())
    results.push(
      ok(
        'docker version',
        `Docker ${info.version}${info.arch ? ` (${info.osType ?? 'linux'}/${info.arch})` : ''}: ${info.cpus} CPU(s), ${formatBytes(info.memoryBytes)}, runtimes ${info.runtimes.join(', ')}`,
      ),
    )
    if (o.ociRuntime && !info.runtimes.includes(o.ociRuntime)) {
      results.push(
        fail(
          'oci runtime',
          `Docker has no runtime '${o.ociRuntime}' (it has: ${info.runtimes.join(', ')})`,
          `install it and register it in /etc/docker/daemon.json ("runtimes"), then restart Docker; or drop --runtime`,
        ),
      )
    }
  } catch (err) {
    results.push(
      fail('docker version', `Docker answered a ping but not 'version': ${describe(err)}`, `restart Docker`),
    )
  }
  let local: string[] = []
  try {
    local = await deadline(o.timeoutMs, 'listing images', runtime.localImages())
  } catch (err) {
    results.push(fail('images', `Docker could not list its images: ${describe(err)}`, `restart Docker`))
    return [...results, skip('docker run', 'Docker could not list its images (see images)')]
  }
  const here = local.filter((i) => imageAllowed(o.allow, i))
  results.push(await checkImages(runtime, here, o))
  // Any image serves to try the sandbox itself; sorted, so the choice is the same each time.
  results.push(await runThrowAway(runtime, here[0] ?? [...local].sort()[0], o))
  return results
}

/** Whether jobs can get an image: an allowed one is here, or one can be pulled. */
async function checkImages(
  runtime: DockerRuntime,
  here: string[],
  o: EngineCheckOptions,
): Promise<CheckResult> {
  const allow = o.allow.join(', ')
  if (here.length > 0) {
    const shown =
      here.length > 5 ? `${here.slice(0, 5).join(', ')} and ${here.length - 5} more` : here.join(', ')
    return ok('images', `allowed (${allow}) and here: ${shown}`)
  }
  const bad = (detail: string, fix: string) =>
    o.worker ? fail('images', detail, fix) : warn('images', detail, fix)
  const loadFix = `'docker pull ${o.defaultImage}' (or 'docker load' an image) here, or allow an image that is here with --images`
  if (!o.pull)
    return bad(`no image the allowlist (${allow}) allows is here, and pulls are off (--no-pull)`, loadFix)
  // Wildcard patterns name no image to ask a registry about; exact ones and the default image do.
  const tries = [...new Set([...o.allow.filter((p) => !p.includes('*')), o.defaultImage])].filter((i) =>
    imageAllowed(o.allow, i),
  )
  const reasons: string[] = []
  for (const image of tries) {
    try {
      await deadline(o.timeoutMs, `asking the registry for ${image}`, runtime.inRegistry(image))
      return ok('images', `no allowed image is here yet; ${image} can be pulled (on first use)`)
    } catch (err) {
      reasons.push(
        `${image}: ${describe(err)
          .replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '')
          .trim()}`,
      )
    }
  }
  const why = reasons.length ? `cannot be pulled (${reasons.join('; ')})` : 'names no image to try pulling'
  return bad(`no image the allowlist (${allow}) allows is here, and it ${why}`, loadFix)
}

/** Runs `true` in a container with the job sandbox (no network, read-only, no capabilities). */
async function runThrowAway(
  runtime: DockerRuntime,
  image: string | undefined,
  o: EngineCheckOptions,
): Promise<CheckResult> {
  if (!image) return skip('docker run', 'there is no image here at all to try a container with')
  const started = Date.now()
  // A label of its own lets the doctor remove the container even if it appears after a timeout.
  const tag = `doctor-${process.pid}-${started.toString(36)}`
  let container: Awaited<ReturnType<DockerRuntime['start']>> | undefined
  try {
    const prepared = await deadline(o.runTimeoutMs, `preparing ${image}`, runtime.prepare(image))
    container = await deadline(
      o.runTimeoutMs,
      'starting a container',
      runtime.start(
        {
          name: `gridx-${tag}`,
          image: prepared,
          cmd: ['true'],
          env: [],
          files: [],
          workdirBytes: 16 * 1024 ** 2,
          labels: { 'gridx.worker': tag, 'gridx.job': tag },
          cpus: 1,
          memoryBytes: 64 * 1024 ** 2,
          ociRuntime: o.ociRuntime,
        },
        () => undefined,
      ),
    )
    const { exitCode } = await deadline(o.runTimeoutMs, 'the container', container.wait())
    if (exitCode !== 0) {
      return fail(
        'docker run',
        `a throw-away container of ${image} exited with ${exitCode}`,
        `try 'docker run --rm --network none ${image} true' by hand and read its error`,
      )
    }
    return ok(
      'docker run',
      `ran a throw-away container of ${image} with no network in ${Date.now() - started} ms`,
    )
  } catch (err) {
    return fail(
      'docker run',
      `could not run a container of ${image} with the job sandbox: ${describe(err)}`,
      `try 'docker run --rm --network none --read-only --cap-drop ALL ${image} true' by hand and read its error`,
    )
  } finally {
    await container?.remove()
    await runtime.removeLeftovers(tag).catch(() => undefined)
  }
}
