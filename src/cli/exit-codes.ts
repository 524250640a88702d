// The exit codes gridx documents (docs/EXIT_CODES.md): the one table main.ts maps errors through.

/** Exit code of a bad command line: an unknown command or flag, a value that does not parse or is out of range. */
export const USAGE_EXIT = 2

/** Exit code of `gridx wait` when its --timeout passed before every job ended. */
export const WAIT_TIMEOUT_EXIT = 5

/** Error codes that mean the command line (or a value given through the environment or config.json) is wrong. */
const USAGE_CODES = new Set([
  'usage',
  // A job id prefix that names several jobs: the user must give more of it.
  'ambiguous_job_id',
  'bad_after',
  'bad_amount',
  'bad_array',
  'bad_action',
  'bad_attempts',
  'bad_config',
  'bad_context',
  'bad_coordinator',
  'bad_cpus',
  'bad_discovery',
  'bad_duration',
  'bad_env',
  'bad_env_file',
  'bad_heartbeats',
  'bad_image',
  'bad_images',
  'bad_install_network',
  'bad_job_id',
  'bad_job_name',
  'bad_join_token',
  'bad_label',
  'bad_limit',
  'bad_max_array',
  'bad_memory',
  'bad_name',
  'bad_package_index',
  'bad_port',
  'bad_priority',
  'bad_proxy',
  'bad_public_url',
  // The coordinator refused a value of the request (its checks are the client's, once more).
  'bad_request',
  'bad_requirement',
  'bad_script_metadata',
  'bad_signup',
  'bad_slots',
  'bad_state',
  'bad_tls_file',
  'bad_uses',
  'database_url_invalid',
  'files_exceed_memory',
  'input_clash',
  'input_path_too_long',
  // A context the command line names that is not saved, or none named where one is needed.
  'no_context',
  'no_context_name',
  'no_coordinator',
  'join_token_damaged',
  'join_token_version',
  'no_entry',
  'no_job',
  'no_requirements_file',
  'no_script',
  'script_too_big',
])

/** Error codes that mean there is no usable login: none saved, none given, or the coordinator refused it. */
const LOGIN_CODES = new Set([
  'not_logged_in',
  'no_credentials',
  'bad_credentials',
  'unauthorized',
  'login_expired',
])

/** The exit code of a failed command, from its error's code (see docs/EXIT_CODES.md). */
export function exitCodeFor(code: string): number {
  if (USAGE_CODES.has(code)) return USAGE_EXIT
  // `gridx doctor` ran, and at least one check failed.
  if (code === 'checks_failed') return 3
  if (LOGIN_CODES.has(code)) return 4
  return 1
}

/** The one-line JSON a failed command prints on stdout under `--json` (docs/JSON.md). */
export function jsonError(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } })
}
