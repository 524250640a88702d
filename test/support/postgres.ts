import { SQL } from 'bun'
import { startCluster } from '../../bench/pg-cluster'

export { ADMIN_PASSWORD, binDir, idOf, pwFile, run } from '../../bench/pg-cluster'

let cluster: Promise<string> | undefined

/** The admin URL of this process's cluster: GRIDX_TEST_DATABASE_URL, or a private one started on first use. */
export async function adminUrl(): Promise<string> {
  const given = process.env.GRIDX_TEST_DATABASE_URL
  if (given) return given
  // Stopped by the cluster's watcher when this process ends, however it ends.
  cluster ??= startCluster().then((c) => c.adminUrl)
  return await cluster
}

let counter = 0

/** A new empty database on the test cluster; returns its URL (same credentials as the admin URL). */
export async function freshDatabase(): Promise<string> {
  const admin = await adminUrl()
  const name = `gridx_t${process.pid}_${++counter}_${Date.now().toString(36)}`
  const sql = new SQL(admin, { max: 1, connectionTimeout: 10 })
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await sql.close()
  }
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
}
