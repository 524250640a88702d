// Completion scripts for bash, zsh and fish, made from the same yargs wiring the commands run
// with, so a flag added to a command is completed without touching this file.
import yargs, { type Argv, type CommandModule } from 'yargs'
import { GridError } from '../errors'
import { out } from './options'
import { allCommands } from './program'

/** What a shell needs to complete one command: its name, one line about it, its flags, its subcommands. */
export interface CompletionSpec {
  name: string
  describe: string
  flags: string[]
  subcommands: string[]
}

/** yargs' own view of a built command: its options and its subcommands (untyped in yargs' types). */
interface Introspect {
  getOptions(): { key: Record<string, boolean>; alias: Record<string, string[]> }
  getInternalMethods(): {
    getCommandInstance(): { getCommandHandlers(): Record<string, { builder: unknown; original: string }> }
  }
}

/** The positionals a command line such as `grant <user> <amount>` names: yargs lists them as options too. */
const positionals = (command: string) => new Set([...command.matchAll(/[<[]([\w-]+)/g)].map((m) => m[1]!))

function flagsOf(
  command: string,
  build: unknown,
): { flags: string[]; subs: Record<string, { builder: unknown; original: string }> } {
  const y = yargs([]) as unknown as Argv & Introspect
  if (typeof build === 'function') (build as (y: Argv) => unknown)(y)
  const o = y.getOptions()
  const names = new Set<string>()
  const skip = positionals(command)
  for (const k of Object.keys(o.key)) {
    if (k === 'version' || skip.has(k) || /[A-Z]/.test(k)) continue
    for (const n of [k, ...(o.alias[k] ?? [])]) names.add(n.length === 1 ? `-${n}` : `--${n}`)
  }
  names.add('-h').add('--no-color')
  return { flags: [...names].sort(), subs: y.getInternalMethods().getCommandInstance().getCommandHandlers() }
}

/** Every command of gridx with its flags (a command's subcommands' flags included). */
export function completionSpecs(): CompletionSpec[] {
  return allCommands(() => undefined).map((c: CommandModule<object, never>) => {
    const { flags, subs } = flagsOf(String(c.command), c.builder)
    const all = new Set(flags)
    for (const s of Object.values(subs)) for (const f of flagsOf(s.original, s.builder).flags) all.add(f)
    return {
      name: String(c.command).split(' ')[0]!,
      describe: typeof c.describe === 'string' ? c.describe : '',
      flags: [...all].sort(),
      subcommands: Object.keys(subs),
    }
  })
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`

/** The bash script: `source <(gridx completion bash)`. */
export function bashScript(specs: CompletionSpec[]): string {
  const cases = specs
    .map((s) => `    ${s.name}) flags=${quote(s.flags.join(' '))}; subs=${quote(s.subcommands.join(' '))} ;;`)
    .join('\n')
  return `# gridx completion for bash. Install: add to ~/.bashrc
#   source <(gridx completion bash)
_gridx() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" flags="" subs=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quote([...specs.map((s) => s.name), 'help', '--help', '--version'].join(' '))} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    help) subs=${quote(specs.map((s) => s.name).join(' '))} ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    COMPREPLY=()
  fi
}
complete -o default -F _gridx gridx
`
}

/** The zsh script: `source <(gridx completion zsh)` after compinit, or saved as _gridx on $fpath. */
export function zshScript(specs: CompletionSpec[]): string {
  const cmds = specs.map((s) => `    ${quote(`${s.name}:${s.describe}`)}`).join('\n')
  const cases = specs
    .map((s) => `    ${s.name}) flags=(${s.flags.join(' ')}); subs=(${s.subcommands.join(' ')}) ;;`)
    .join('\n')
  return `#compdef gridx
# gridx completion for zsh. Install: add to ~/.zshrc (after compinit)
#   source <(gridx completion zsh)
_gridx() {
  local -a cmds flags subs
  cmds=(
${cmds}
  )
  if (( CURRENT == 2 )); then
    _describe 'gridx command' cmds
    return
  fi
  case $words[2] in
${cases}
  esac
  if [[ $PREFIX == -* ]]; then
    compadd -- $flags
  elif (( CURRENT == 3 && $#subs > 0 )); then
    compadd -- $subs
  else
    _files
  fi
}
if [[ "\${funcstack[1]}" == _gridx ]]; then
  _gridx "$@"
else
  compdef _gridx gridx
fi
`
}

/** The fish script: `gridx completion fish > ~/.config/fish/completions/gridx.fish`. */
export function fishScript(specs: CompletionSpec[]): string {
  const lines = [
    '# gridx completion for fish. Install:',
    '#   gridx completion fish > ~/.config/fish/completions/gridx.fish',
    `complete -c gridx -n __fish_use_subcommand -f -a help -d 'help on a command'`,
  ]
  for (const s of specs) {
    lines.push(`complete -c gridx -n __fish_use_subcommand -f -a ${s.name} -d ${quote(s.describe)}`)
    const when = `-n '__fish_seen_subcommand_from ${s.name}'`
    for (const sub of s.subcommands) lines.push(`complete -c gridx ${when} -f -a ${sub}`)
    for (const f of s.flags) {
      lines.push(`complete -c gridx ${when} ${f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** `gridx completion SHELL`: prints that shell's script. */
export function printCompletion(shell: string): void {
  const specs = completionSpecs()
  const script =
    shell === 'bash'
      ? bashScript(specs)
      : shell === 'zsh'
        ? zshScript(specs)
        : shell === 'fish'
          ? fishScript(specs)
          : undefined
  if (script === undefined)
    throw new GridError('usage', `no completion for '${shell}': use bash, zsh or fish`)
  out(script.trimEnd())
}
