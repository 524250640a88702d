// Run on a pseudo-terminal by test/e2e/prompt.test.ts: asks two questions through the CLI's line
// reader and says whether the terminal's mode afterwards is the one it had before (not raw).
import { readLine } from '../../src/cli/line-reader'

const mode = () => Bun.spawnSync(['stty', '-g'], { stdin: 'inherit' }).stdout.toString().trim()
const before = mode()
const user = await readLine('user: ', false)
const password = await readLine('password: ', true)
console.log(`answers=${user}/${password} same-mode=${before === mode()}`)
