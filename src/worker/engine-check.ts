import { existsSync } from 'node:fs'
import { type CheckResult, fail, ok, skip, warn } from '../protocol/doctor'
import { describe, GridError } from '../errors'
import { formatBytes } from '../protocol/units'
import { connectDocker, type DockerRuntime } from './docker'

/** What the Docker checks need. */
export interface EngineCheckOptions {
  /** Where to look for the engine (`dockerCandidates`). */
  candidates: string[]
  /** Images jobs may use on this worker; each should be here or pullable. */
  images: string[]
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

/** The Docker engine of a worker host: found, its version, a throw-away container, the images. */
export async function checkEngine(o: EngineCheckOptions): Promise<CheckResult[]> {
  const names = ['docker', 'docker version', 'docker run', ...o.images.map((i) => `image ${i}`)]
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
    runtime = await deadline(o.timeoutMs, 'connecting to Docker', connectDocker(o.candidates))
  } catch (err) {
    return [engineFailure(err), ...names.slice(1).map((n) => skip(n, 'Docker is not available (see docker)'))]
  }
  const results: CheckResult[] = [ok('docker', `the Docker engine answers at ${runtime.endpoint}`)]
  try {
    const info = await deadline(o.timeoutMs, 'asking Docker for its version', runtime.info())
    results.push(
      ok('docker version', `Docker ${info.version}: ${info.cpus} CPU(s), ${formatBytes(info.memoryBytes)}`),
    )
  } catch (err) {
    results.push(
      fail('docker version', `Docker answered a ping but not 'version': ${describe(err)}`, `restart Docker`),
    )
  }
  const present: string[] = []
  const imageResults: CheckResult[] = []
  for (const image of o.images) {
    const r = await checkImage(runtime, image, o)
    if (r.here) present.push(image)
    imageResults.push(r.result)
  }
  results.push(await runThrowAway(runtime, present[0], o.runTimeoutMs), ...imageResults)
  return results
}

/** One allowed image: here, or at least pullable from its registry. */
async function checkImage(
  runtime: DockerRuntime,
  image: string,
  o: EngineCheckOptions,
): Promise<{ result: CheckResult; here: boolean }> {
  const check = `image ${image}`
  try {
    if (await deadline(o.timeoutMs, `looking up ${image}`, runtime.hasImage(image))) {
      return { result: ok(check, `${image} is here`), here: true }
    }
  } catch (err) {
    return {
      result: fail(check, `Docker could not look up ${image}: ${describe(err)}`, `restart Docker`),
      here: false,
    }
  }
  try {
    await deadline(o.timeoutMs, `asking the registry for ${image}`, runtime.inRegistry(image))
    return {
      result: ok(check, `${image} is not here yet; its registry has it (pulled on first use)`),
      here: false,
    }
  } catch (err) {
    const detail = `${image} is not here and its registry cannot be reached or does not have it (${describe(
      err,
    )
      .replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '')
      .trim()})`
    const fix = `'docker pull ${image}' (or 'docker load' it) on this machine, or allow an image that is here`
    return { result: o.worker ? fail(check, detail, fix) : warn(check, detail, fix), here: false }
  }
}

/** Runs `true` in a container with the worker's sandbox (no network, read-only, no capabilities). */
async function runThrowAway(
  runtime: DockerRuntime,
  image: string | undefined,
  timeoutMs: number,
): Promise<CheckResult> {
  if (!image) {
    return skip(
      'docker run',
      'none of the images to check is here to try a container with (pass --image IMAGE)',
    )
  }
  const started = Date.now()
  // A label of its own lets the doctor remove the container even if it appears after a timeout.
  const tag = `doctor-${process.pid}-${started.toString(36)}`
  let container: Awaited<ReturnType<DockerRuntime['start']>> | undefined
  try {
    container = await deadline(
      timeoutMs,
      'starting a container',
      runtime.start(
        {
          name: `gridx-${tag}`,
          image,
          cmd: ['true'],
          env: [],
          files: [],
          labels: { 'gridx.worker': tag, 'gridx.job': tag },
          cpus: 1,
          memoryBytes: 64 * 1024 ** 2,
        },
        () => undefined,
      ),
    )
    const { exitCode } = await deadline(timeoutMs, 'the container', container.wait())
    if (exitCode !== 0) {
      return fail(
        'docker run',
        `a throw-away container of ${image} exited with ${exitCode}`,
        `try 'docker run --rm --network none ${image} true' by hand and read its error`,
      )
    }
    const ms = Date.now() - started
    return ok('docker run', `ran a throw-away container of ${image} with no network in ${ms} ms`)
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
