import { describe, expect, test } from 'bun:test'
import type { z } from 'zod'
import { checkFileConfig, type FileConfig } from '../../src/config-check'
import { type FileConfig as Schema, parseFileConfig } from '../../src/config-file'

// The plain check of config.json against its zod schema: on valid files and on every one-field
// change of them, both accept (and give the same settings) or both refuse. A check that accepted
// what the schema refuses, or refused what it takes, fails here.

// The interface and the schema's type are the same (tsc fails here when a field differs).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const sameType: Same<FileConfig, z.infer<typeof Schema>> = true
void sameType

const FULL = {
  coordinator: 'grid.example:8081',
  httpPort: 8081,
  wsPort: 0,
  host: '0.0.0.0',
  dataDir: 'data',
  slots: 4,
  name: 'box',
  caCert: 'ca.pem',
  tlsCert: 'c.pem',
  tlsKey: 'k.pem',
  publicUrl: 'https://grid.example',
  database: 'postgres://db/gridx',
  blobDir: 'blobs',
  quota: '2g',
  maxHeartbeats: 500,
  maxCpus: 1.5,
  maxMemory: '4g',
  maxTimeout: '1h',
  images: ['python:3.12-slim'],
  pull: true,
  runtime: 'runc',
  maxDisk: '10g',
  packages: false,
  packageIndex: 'https://pypi.example/simple',
  installNetwork: 'bridge',
  envCache: 'envs',
  packagesAllowSource: true,
  signup: 'open',
  discovery: false,
}

/** Values of every JSON kind, and the edges of the fields' ranges. */
const VALUES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  65535,
  65536,
  -0.5,
  1e300,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  'x',
  '8081',
  'invite',
  'open',
  'closed',
  'OPEN',
  [],
  [''],
  ['a', 'b'],
  ['a', 1],
  {},
  { a: 1 },
]

function agree(json: unknown): void {
  const plain = checkFileConfig(json)
  const schema = parseFileConfig(json)
  const label = JSON.stringify(json)
  if ('data' in schema) {
    expect(plain, `the check refused what the schema takes: ${label}`).toEqual(schema.data)
  } else {
    expect(plain, `the check took what the schema refuses: ${label}`).toBeUndefined()
  }
}

describe('checkFileConfig agrees with the zod schema', () => {
  test('whole files: empty, full, each field alone', () => {
    agree({})
    agree(FULL)
    for (const [key, value] of Object.entries(FULL)) agree({ [key]: value })
  })

  test('every field set to every kind of value, in the full file and alone', () => {
    for (const key of Object.keys(FULL)) {
      for (const value of VALUES) {
        agree({ ...FULL, [key]: value })
        agree({ [key]: value })
      }
    }
  })

  test('unknown keys (typos, prototype names) and files that are not objects', () => {
    for (const key of ['http_port', 'HttpPort', 'constructor', 'toString', 'hasOwnProperty', '', 'x']) {
      agree({ [key]: 1 })
      agree({ ...FULL, [key]: 'x' })
    }
    agree(JSON.parse('{"__proto__": {"httpPort": 1}}'))
    for (const json of [null, [], [1, 2], 'text', 3, true]) agree(json)
  })

  test('a refused file is named by the schema, with the field', () => {
    const r = parseFileConfig({ wsPort: 70000 })
    expect('problem' in r && r.problem).toContain('wsPort')
  })
})
