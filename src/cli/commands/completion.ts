import type { CommandModule } from 'yargs'

/** The command's code, loaded only when it runs. */
const load = () => import('../completion')

/** yargs wiring of `gridx completion bash|zsh|fish`. */
export function completionCommand(): CommandModule<object, { shell: string }> {
  return {
    command: 'completion <shell>',
    describe: 'print a shell completion script (commands and their flags) for bash, zsh or fish',
    builder: (y) =>
      y
        .positional('shell', { type: 'string', choices: ['bash', 'zsh', 'fish'], demandOption: true })
        .example('source <(gridx completion bash)', 'in ~/.bashrc')
        .example('source <(gridx completion zsh)', 'in ~/.zshrc, after compinit')
        .example('gridx completion fish > ~/.config/fish/completions/gridx.fish', ''),
    handler: async (a) => (await load()).printCompletion(a.shell),
  }
}
