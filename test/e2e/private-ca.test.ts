import { expect, test } from 'bun:test'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './harness'

const ROOT = join(import.meta.dir, '../..')
const asRoot = process.getuid?.() === 0

// The key is made for the account that runs `gridx serve` (deploy/gridx-coordinator.service runs
// it as `gridx`): a root-only key stopped the documented service with "permission denied".
test.skipIf(!asRoot)(
  'scripts/private-ca.sh gives coordinator.key, mode 0600, to PRIVATE_CA_KEY_OWNER',
  () => {
    const dir = tempDir('private-ca')
    try {
      const made = Bun.spawnSync(
        ['bash', join(ROOT, 'scripts/private-ca.sh'), dir, 'grid.lan', '127.0.0.1'],
        {
          env: { ...process.env, PRIVATE_CA_KEY_OWNER: 'nobody' },
        },
      )
      expect(made.exitCode).toBe(0)
      expect(made.stderr.toString()).toContain('belongs to nobody, who runs gridx serve')
      const key = statSync(join(dir, 'coordinator.key'))
      expect(key.mode & 0o777).toBe(0o600)
      // The service user itself can read it (the directory above it is the operator's to open).
      Bun.spawnSync(['chmod', '755', dir])
      const read = Bun.spawnSync([
        'runuser',
        '-u',
        'nobody',
        '--',
        'head',
        '-c',
        '27',
        join(dir, 'coordinator.key'),
      ])
      expect(read.stdout.toString()).toBe('-----BEGIN PRIVATE KEY-----')
      // A user that does not exist is refused with what to do, before anything is given away.
      const wrong = Bun.spawnSync(['bash', join(ROOT, 'scripts/private-ca.sh'), dir, 'grid.lan'], {
        env: { ...process.env, PRIVATE_CA_KEY_OWNER: 'no-such-user-here' },
      })
      expect(wrong.exitCode).toBe(1)
      expect(wrong.stderr.toString()).toContain('PRIVATE_CA_KEY_OWNER=no-such-user-here is not a user here')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
)
