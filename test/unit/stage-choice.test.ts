import { describe, expect, test } from 'bun:test'
import type Docker from 'dockerode'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { GridError } from '../../src/errors'
import { DockerRuntime } from '../../src/worker/docker'
import { elfArch, engineArch } from '../../src/worker/stage/program'

// Which stage program a worker puts in its job images: the one for the CPU its Docker engine
// reports, which on macOS and Windows is Docker Desktop's Linux VM (arm64 or x64).

const NATIVE = readFileSync(resolve(import.meta.dir, '../../dist/gridx-stage'))

/** A DockerRuntime whose engine answers `info` with the given OS and CPU. */
const engine = (info: { OSType?: string; Architecture?: string }) =>
  new DockerRuntime({ info: () => Promise.resolve(info) } as unknown as Docker, 'unix:///fake.sock')

async function refusal(p: Promise<unknown>): Promise<GridError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof GridError)) throw new Error(`expected a GridError, got ${String(err)}`)
  return err
}

describe('stage program choice', () => {
  test('the ELF header tells the CPU of a stage program; anything else is no stage', () => {
    expect(elfArch(NATIVE)).toBe(process.arch as 'x64' | 'arm64')
    expect(elfArch(new TextEncoder().encode('#!/bin/sh\necho not a program\n'))).toBeUndefined()
    const arm = Uint8Array.from(NATIVE.subarray(0, 64))
    arm[18] = 183
    arm[19] = 0
    expect(elfArch(arm)).toBe('arm64')
  })

  test("Docker's names for the CPUs map to gridx's", () => {
    expect(['x86_64', 'amd64', 'aarch64', 'arm64', 'riscv64', undefined].map(engineArch)).toEqual([
      'x64',
      'x64',
      'arm64',
      'arm64',
      undefined,
      undefined,
    ])
  })

  test("an engine of this machine's CPU gets the stage program make build embedded", async () => {
    const reported = process.arch === 'x64' ? 'x86_64' : 'aarch64'
    const stage = await engine({ OSType: 'linux', Architecture: reported }).engineStage()
    expect(stage.arch).toBe(process.arch as 'x64' | 'arm64')
    expect(Buffer.from(stage.bytes).equals(NATIVE)).toBe(true)
  })

  test('an engine of the other CPU: refused, naming both and where to get a binary that carries it', async () => {
    const other =
      process.arch === 'x64' ? { reported: 'aarch64', arch: 'arm64' } : { reported: 'x86_64', arch: 'x64' }
    const err = await refusal(engine({ OSType: 'linux', Architecture: other.reported }).engineStage())
    expect(err.code).toBe('no_stage_for_engine')
    expect(err.message).toBe(
      `the Docker engine runs linux/${other.arch}, and this gridx carries the stage program for linux/${process.arch} only: use a release binary (they carry x64 and arm64; 'make release'), or build gridx on a linux/${other.arch} machine`,
    )
  })

  test('Windows containers and unknown CPUs are refused with what to do', async () => {
    const windows = await refusal(engine({ OSType: 'windows', Architecture: 'x86_64' }).engineStage())
    expect(windows.code).toBe('docker_not_linux')
    expect(windows.message).toContain('switch Docker Desktop to Linux containers')
    const riscv = await refusal(engine({ OSType: 'linux', Architecture: 'riscv64' }).engineStage())
    expect(riscv.code).toBe('no_stage_for_engine')
    expect(riscv.message).toContain('(riscv64)')
  })
})
