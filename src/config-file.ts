// The zod schema of `$GRIDX_HOME/config.json`. Loaded only to word a refusal of the plain check
// in ./config-check.ts (building zod's schemas was a tenth of a `gridx submit`'s CPU), and by
// that check's unit test, which holds the two to the same verdicts.
import { z } from 'zod'
import { SIGNUP_MODES } from './protocol/signup'
import { LOG_FORMATS } from './config-log'

/** Settings a user may keep in `$GRIDX_HOME/config.json`; flags and environment win over it. */
export const FileConfig = z
  .object({
    coordinator: z.string().optional(),
    httpPort: z.int().min(0).max(65535).optional(),
    wsPort: z.int().min(0).max(65535).optional(),
    host: z.string().optional(),
    dataDir: z.string().optional(),
    slots: z.int().min(1).optional(),
    name: z.string().optional(),
    caCert: z.string().optional(),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    publicUrl: z.string().optional(),
    /** `gridx serve --database`: the grid's shared PostgreSQL (postgres://…); unset, SQLite in the data dir. */
    database: z.string().optional(),
    /** `gridx serve --blob-dir`: keep job files in this directory, mounted on every coordinator. */
    blobDir: z.string().optional(),
    /** `gridx serve --quota`: storage each user may keep on the coordinator, e.g. "2g". */
    quota: z.string().optional(),
    /** `gridx serve --max-heartbeats`: heartbeats per second all workers together are kept under. */
    maxHeartbeats: z.union([z.number(), z.string()]).optional(),
    /** Worker policy (`gridx work` flags of the same names win). */
    maxCpus: z.number().positive().optional(),
    maxMemory: z.string().optional(),
    maxTimeout: z.string().optional(),
    images: z.array(z.string().min(1)).optional(),
    pull: z.boolean().optional(),
    runtime: z.string().optional(),
    maxDisk: z.string().optional(),
    /** Python package environments (`gridx work --packages`, `--package-index`, ...). */
    packages: z.boolean().optional(),
    packageIndex: z.string().optional(),
    installNetwork: z.string().optional(),
    envCache: z.string().optional(),
    packagesAllowSource: z.boolean().optional(),
    /** Who may create accounts on this coordinator (`gridx serve --signup`). */
    signup: z.enum(SIGNUP_MODES).optional(),
    /** mDNS on the local network: `gridx serve` advertises, clients look for coordinators (false: neither). */
    discovery: z.boolean().optional(),
    /** `gridx serve --log-format`: text or json. */
    logFormat: z.enum(LOG_FORMATS).optional(),
    /** `gridx serve --log-requests`: a log line per HTTP request. */
    logRequests: z.boolean().optional(),
  })
  .strict()

/** The schema's verdict on `json`: the settings, or what is wrong in zod's words. */
export function parseFileConfig(json: unknown): { data: z.infer<typeof FileConfig> } | { problem: string } {
  const r = FileConfig.safeParse(json)
  return r.success ? { data: r.data } : { problem: z.prettifyError(r.error) }
}
