import type { Argv, CommandModule } from 'yargs'
import { credentialOptions, connectionOptions, note } from './options'
import { credentials, loginAndSave, openSession } from './session'

type Flags = { coordinator?: string; httpPort?: number; wsPort?: number; user?: string; password?: string }

/** `gridx register`: create an account and log in. */
export async function register(flags: Flags): Promise<number> {
  const s = openSession(flags)
  const creds = await credentials(s.config)
  await s.api.register(creds)
  await loginAndSave(s, creds)
  note(`registered '${creds.user}' on ${s.api.addr.httpUrl} and logged in`)
  return 0
}

/** `gridx login`: log in and save the token. */
export async function login(flags: Flags): Promise<number> {
  const s = openSession(flags)
  const creds = await credentials(s.config)
  await loginAndSave(s, creds)
  note(`logged in to ${s.api.addr.httpUrl} as '${creds.user}'`)
  return 0
}

/** `gridx logout`: revoke the token and forget it. */
export async function logout(flags: Flags): Promise<number> {
  const s = openSession(flags)
  if (s.creds.get(s.api.addr.httpUrl)) {
    await s.api.logout().catch(() => undefined)
    s.creds.remove(s.api.addr.httpUrl)
  }
  note(`logged out of ${s.api.addr.httpUrl}`)
  return 0
}

/** yargs wiring of register, login and logout. */
export function accountCommands(setExit: (code: number) => void): CommandModule<object, Flags>[] {
  const builder = (example: string) => (y: Argv) =>
    credentialOptions(connectionOptions(y)).example(example, '')
  return [
    {
      command: 'register',
      describe: 'create an account on a coordinator (and log in)',
      builder: builder("$0 register --coordinator 192.168.1.100 --user alice --password 'long secret'"),
      handler: async (a) => setExit(await register(a)),
    },
    {
      command: 'login',
      describe: 'log in; the token is saved in $GRIDX_HOME/credentials.json',
      builder: builder('$0 login --coordinator 192.168.1.100 --user alice'),
      handler: async (a) => setExit(await login(a)),
    },
    {
      command: 'logout',
      describe: 'revoke and forget the saved token',
      builder: (y) => connectionOptions(y).example('$0 logout', ''),
      handler: async (a) => setExit(await logout(a)),
    },
  ]
}
