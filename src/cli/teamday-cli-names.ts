/**
 * TeamDay's own CLI (TeamDay-AI/cli, also installed as `teamday`) spells some commands and
 * options differently from this one: `auth login`, `agents exec ID MESSAGE`, `tasks complete`,
 * `spaces set-secret`, `--format json`, `--api-url`. Someone who switches binaries (or follows
 * TeamDay's docs) typed them and was told only `unknown command "auth"`. These are what to type
 * here instead, for the usage error that refuses them (src/cli/run.ts). Nothing here runs a
 * command under another name: each stays a usage error (exit 2), with the equivalent named.
 */

import { closest } from './suggest'
import { cutText } from '../text'

const HOSTED = "a hosted TeamDay feature this server does not have"

/** TeamDay CLI command (its words, space-separated) → what does it here. */
const COMMANDS: Record<string, string> = {
  auth: '"teamday login", "teamday whoami", "teamday logout" and "teamday tokens"',
  'auth login': '"teamday login"',
  'auth logout': '"teamday logout"',
  'auth status': '"teamday whoami"',
  'auth refresh': '"teamday login" once: the login it stores is refreshed by itself',
  'auth set-key': 'TEAMDAY_TOKEN or --token-file FILE (a token is never an argument)',
  'auth create-token': '"teamday tokens create --name N [--expires-in-days D]"',
  'auth list-tokens': '"teamday tokens list"',
  'auth revoke-token': '"teamday tokens revoke ID"',
  'agents exec': '"teamday agents execute ID --message M" (the message is an option here)',
  'agents chat': '"teamday agents execute ID --message M --stream", with --session ID to go on in the same chat',
  chat: '"teamday agents execute AGENT --message M --stream", with --space SPACE and --session ID to go on in the same chat',
  characters: '"teamday agents"',
  config: '--url URL or TEAMDAY_URL for its api_url (TEAMDAY_API_URL is read too), --json for its format json',
  'tasks complete': '"teamday tasks update ID --status completed"',
  'tasks cancel': '"teamday tasks update ID --status cancelled"',
  'spaces set-secret': '"teamday spaces secrets set SPACE KEY=VALUE…"',
  'spaces remove-secret': '"teamday spaces secrets delete SPACE KEY…"',
  'spaces add-agent': '"teamday spaces update SPACE --add-agents ID,ID"',
  'spaces remove-agent': '"teamday spaces update SPACE --remove-agents ID,ID"',
  'spaces chat': '"teamday agents execute AGENT --space SPACE --message M --stream"',
}
for (const word of ['keys', 'mcps', 'skills', 'missions', 'scan', 'files', 'dirs']) COMMANDS[word] = HOSTED
for (const word of ['ls', 'git', 'share', 'unshare', 'upload-cover', 'add-mcp', 'remove-mcp', 'add-skill', 'remove-skill']) COMMANDS[`spaces ${word}`] = HOSTED

/** TeamDay CLI option → what does it here. */
const OPTIONS: Record<string, string> = {
  '--format': '--json for its --format json (tables are the default)',
  '--api-url': '--url URL (or TEAMDAY_URL)',
  '--env': '--url URL (or TEAMDAY_URL)',
  '--no-stream': 'leave it out (agents execute waits for the whole answer unless --stream is given)',
  '--chat': '--session ID (a chat and its session are one here)',
}

/**
 * What to say of the TeamDay CLI command `words` (its group and the word refused there:
 * `['auth', 'login']`, `['tasks', 'complete']`; a top-level word and what followed it:
 * `['chat', 'space_1']`): the command as TeamDay's CLI names it and what does it here, or
 * undefined when TeamDay's CLI has no such command. `spaces secrets ID` (TeamDay's list of a
 * space's secrets) is the one whose last word is an argument.
 */
export function teamdayCliCommand(words: readonly string[], known: readonly string[] = []): string | undefined {
  const [first, second] = words
  if (first === undefined) return undefined
  // Unless it is a near miss of a subcommand here (`spaces secrets sett`: "did you mean set?").
  if (words.length === 3 && first === 'spaces' && second === 'secrets') {
    return closest(words[2]!, known) === undefined ? said('spaces secrets SPACE', `"teamday spaces secrets list SPACE" (if "${cutText(words[2]!, 60)}" is a space: the subcommands here are ${known.join(', ')})`) : undefined
  }
  const pair = second !== undefined && !second.startsWith('-') ? `${first} ${second}` : undefined
  if (pair !== undefined && own(COMMANDS, pair) !== undefined) return said(pair, own(COMMANDS, pair)!)
  const one = own(COMMANDS, first)
  return one === undefined ? undefined : said(first, one)
}

function said(command: string, here: string): string {
  return here === HOSTED ? `TeamDay's CLI command "teamday ${command}" is ${HOSTED}` : `TeamDay's CLI command "teamday ${command}"; here: ${here}`
}

/** What to say of the TeamDay CLI option `option` (as typed, `--format` or `--format=json`), or undefined. */
export function teamdayCliOption(option: string): string | undefined {
  const name = option.split('=')[0]!
  const here = own(OPTIONS, name)
  return here === undefined ? undefined : `TeamDay's CLI option ${name}; here: ${here}`
}

/** The table's own entry (never an inherited property: `teamday constructor`). */
function own(table: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined
}
