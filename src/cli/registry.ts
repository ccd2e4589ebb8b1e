import type { Failure } from '../client/errors'
import { loadAdmin } from './admin-bundle'
import type { ClientValues, Command, Handler, Mode, Options, OptionSpec, Positionals, TopCommand, Values } from './spec'

/**
 * Every command of `teamday`, declared once: its name, mode, summary, options, arguments and a
 * loader of its code. The parser, the usage texts, `teamday help` and the dispatch all read this
 * table (src/cli/run.ts, src/cli/help.ts). A command's code is imported only when it runs: a
 * client command never evaluates the server, drizzle or Elysia. A top-level command's
 * declaration (its subcommands, options and texts) is built only when it is asked for by name
 * (`commandsNamed`) or all are (`allCommands`: help, tests): a run builds one, not the ~80 objects
 * of all (building all was most of the time a client command spent before its request).
 */

/** Exit codes, the one table (README, "Client commands"): every failure maps to one of them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, auth: 3, notFound: 4, server: 5 } as const satisfies Record<'ok' | Failure, number>
export type ExitKind = keyof typeof EXIT

/** How `teamday help` names each exit code. */
export const EXIT_MEANING: Record<ExitKind, string> = {
  ok: 'ok',
  failed: 'operation failed',
  usage: 'usage',
  auth: 'authentication/permission',
  notFound: 'not found',
  server: 'server/network',
}

const str = (arg: string, more: Omit<OptionSpec, 'type' | 'arg'> = {}) => ({ type: 'string', arg, ...more }) as const
const req = (arg: string) => str(arg, { required: true })
const flag = { type: 'boolean' } as const
const id = (what: string): Positionals => ({ synopsis: 'ID', min: 1, max: 1, missing: `${what} ID` })
/** Agents and spaces are named by id or by slug. */
const ref = (what: string): Positionals => ({ synopsis: 'ID|SLUG', min: 1, max: 1, missing: `${what} ID or slug` })

/** A command that runs; `load` must accept the values its options (and the common ones) give. */
function leaf<const O extends Options>(c: Omit<Command, 'options' | 'load' | 'subcommands'> & { options?: O; load: () => Promise<Handler<Values<O> & ClientValues>> }): Command {
  return c
}

const group = (name: string, summary: string, subcommands: Command[]): Command => ({ name, summary, subcommands })

/** A top-level command by its name and mode, its declaration built on first use. */
interface Declared {
  name: string
  mode: Mode
  define: () => TopCommand
}

function top(mode: Mode, name: string, define: () => Omit<TopCommand, 'mode'>): Declared {
  return {
    name,
    mode,
    define: () => {
      const c = { mode, ...define() }
      if (c.name !== name) throw new Error(`the command declared as "${name}" is named "${c.name}"`)
      return c
    },
  }
}

const page = { limit: str('N'), offset: str('N'), cursor: str('CURSOR') } as const

/** The long texts (src/cli/client/text-input.ts): from a file or stdin, past the ~128 KB of an argument. */
const textNote = (name: string) => `a long --${name} (an argument stops at ~128 KB): --${name}-file FILE, or --${name} - for stdin`
const db = { db: str('FILE') } as const

// One loader per file: `users create` must not load `serve` (Elysia, the engine). Admin code comes
// from the admin bundle (src/cli/admin-bundle.ts): the client commands never load the server.
const users = () => loadAdmin().then((a) => a.users())
const adminTokens = () => loadAdmin().then((a) => a.tokens())
const serveCommand = () => loadAdmin().then((a) => a.serve())
const adminAudit = () => loadAdmin().then((a) => a.audit())
const migrateCommand = () => loadAdmin().then((a) => a.migrate())
const migrateDataCommand = () => loadAdmin().then((a) => a.migrateData())
const backupCommands = () => loadAdmin().then((a) => a.backup())
const openapiCommand = () => loadAdmin().then((a) => a.openapi())
const rekeyCommand = () => loadAdmin().then((a) => a.rekey())
const agents = () => import('./client/agents')
const executions = () => import('./client/executions')
const tasks = () => import('./client/tasks')
const spaces = () => import('./client/spaces')
const tokens = () => import('./client/tokens')
const status = () => import('./client/status')
const members = () => import('./client/members')
const login = () => import('./client/login')

// The fields of create and update, built with their command (see `top`).
const agentFields = () =>
  ({
    name: str('N'),
    slug: str('SLUG'),
    'system-prompt': str('P', { or: 'system-prompt-file' }),
    'system-prompt-file': str('FILE'),
    role: str('R'),
    visibility: str('V'),
    model: str('M'),
    description: str('D'),
    category: str('C'),
    tags: str('a,b'),
    subagents: str('ID,ID'),
    'max-turns': str('N'),
  }) as const

const taskFields = () =>
  ({
    title: str('T'),
    description: str('D', { or: 'description-file' }),
    'description-file': str('FILE'),
    priority: str('P'),
    'assign-to': str('ID'),
    'assigned-to': str('ID'),
    'assignee-type': str('user|agent'),
    space: str('ID'),
    due: str('ISO-DATE'),
    metadata: str('JSON'),
  }) as const

const spaceFields = () =>
  ({
    name: str('N'),
    slug: str('SLUG'),
    description: str('D'),
    visibility: str('private|organization|public'),
    type: str('empty'),
    instructions: str('TEXT', { or: 'instructions-file' }),
    'instructions-file': str('FILE'),
    'add-agents': str('ID,ID'),
  }) as const

const ADMIN_COMMANDS: Declared[] = [
  top('admin', 'serve', () =>
    leaf({
      name: 'serve',
      summary: 'run the API server',
      notes: [
        'defaults: --host 0.0.0.0 --port 3000 --db ./data/teamday.db; env: HOST, PORT, TEAMDAY_DB (flags win)',
        'migrates the database first; --port 0 picks a free port; a port in use is an error (exit 1)',
        '--reuse-port: share the port with other teamday processes on the SAME database (the kernel spreads connections); a start on a port held by a server on another database, or by one that cannot show which, is refused',
        '--metrics-port P [--metrics-host H]: a second listener serving GET /metrics without a token (default host 127.0.0.1; env TEAMDAY_METRICS_PORT, TEAMDAY_METRICS_HOST)',
        '--tls-cert FILE --tls-key FILE: serve HTTPS (PEM certificate, its chain after it, and its unencrypted private key; both or neither; env TEAMDAY_TLS_CERT, TEAMDAY_TLS_KEY); read at start, and again on SIGHUP or when their content changes (TEAMDAY_TLS_CHECK_MS): a renewed certificate is served without a restart',
      ],
      options: { host: str('HOST'), port: str('PORT'), db: str('FILE'), 'reuse-port': flag, 'metrics-host': str('HOST'), 'metrics-port': str('PORT'), 'tls-cert': str('FILE'), 'tls-key': str('FILE') },
      load: () => serveCommand().then((m) => m.serve),
    }),
  ),
  top('admin', 'users', () =>
    group('users', 'list and add members (and organizations), change roles, remove members', [
      leaf({ name: 'list', summary: 'the members of the organization, newest first: e-mail, user id, role, name, joined', notes: ['a page of --limit (default 100, at most 1000); the next: --cursor, printed on stderr after the page'], options: { org: req('SLUG'), limit: str('N'), cursor: str('C'), json: flag, ...db }, load: () => users().then((m) => m.list) }),
      leaf({ name: 'create', summary: 'adds the user to the organization, created when missing', options: { email: req('E'), org: req('SLUG'), role: str('admin|member|viewer'), name: str('N'), ...db }, load: () => users().then((m) => m.create) }),
      leaf({ name: 'set-role', summary: 'applies to their tokens from the next request', options: { email: req('E'), org: req('SLUG'), role: req('admin|member|viewer'), ...db }, load: () => users().then((m) => m.setRole) }),
      leaf({ name: 'remove', summary: 'also revokes their tokens of that organization', options: { email: req('E'), org: req('SLUG'), ...db }, load: () => users().then((m) => m.remove) }),
      leaf({
        name: 'set-password',
        summary: 'console password, read from the terminal or stdin (never an argument); ends their sessions',
        notes: ['Interactive: asks twice without echo. Piped: the first line of stdin (printf %s "$PW" | teamday users set-password --email E).'],
        options: { email: req('E'), ...db },
        load: () => users().then((m) => m.setUserPassword),
      }),
    ]),
  ),
  top('admin', 'tokens', () => ({
    usageHeader: 'admin mode, on the database file (chosen by --email, --org or --db)',
    ...group('tokens', 'admin mode: with --email, --org or --db', [
      leaf({
        name: 'create',
        summary: 'prints only the token on stdout (store it now: it is never shown again)',
        notes: ['--scopes: comma-separated, e.g. agents:read,tasks:write (default *: all the role allows)'],
        options: { email: req('E'), org: str('SLUG'), name: req('N'), 'expires-in-days': str('D (7-365)'), scopes: str('a,b'), ...db },
        load: () => adminTokens().then((m) => m.create),
      }),
      leaf({ name: 'list', summary: 'masked, never the token; every organization of the user, newest first', notes: ['a page of --limit (default 100, at most 1000); the next: --cursor, printed on stderr after the page'], options: { email: req('E'), limit: str('N'), cursor: str('C'), json: flag, ...db }, load: () => adminTokens().then((m) => m.list) }),
      leaf({
        name: 'revoke',
        summary: 'refused from the next request on',
        positionals: { ...id('token'), missing: 'token ID (see "teamday tokens list --email E")' },
        options: { db: req('FILE') },
        load: () => adminTokens().then((m) => m.revoke),
      }),
    ]),
  })),
  top('admin', 'audit', () => ({
    usageHeader: 'admin mode, on the database file (chosen by --org or --db)',
    ...group('audit', 'admin mode: with --org or --db; every organization', [
      leaf({
        name: 'list',
        summary: 'security events, newest first (token created/rotated/revoked, leak reports, scope',
        notes: ['denials, expired-token use, new IPs, secret changes); every organization unless --org'],
        options: { org: str('SLUG'), type: str('T'), 'token-id': str('ID'), 'user-id': str('ID'), since: str('ISO'), until: str('ISO'), limit: str('N'), cursor: str('C'), json: flag, ...db },
        load: () => adminAudit().then((m) => m.list),
      }),
      leaf({
        name: 'prune',
        summary: 'deletes the events recorded before DATE, in every organization; prints how many',
        notes: [
          'DATE: 2026-01-01 (its midnight, UTC) or an ISO-8601 instant, not in the future; in batches, safe while servers run',
          'recorded as audit.pruned in each organization that lost events and once without one: the trail shows it was pruned',
          'to keep a period for good, set TEAMDAY_AUDIT_RETENTION_DAYS on the server instead (README: Audit log)',
        ],
        options: { before: req('DATE'), db: req('FILE') },
        load: () => adminAudit().then((m) => m.prune),
      }),
    ]),
  })),
  top('admin', 'migrate', () => leaf({ name: 'migrate', summary: 'apply pending database migrations', options: db, load: () => migrateCommand().then((m) => m.migrate) })),
  top('admin', 'migrate-data', () =>
    leaf({
      name: 'migrate-data',
      summary: 'copy a SQLite database into an empty PostgreSQL one',
      notes: [
        'reads FILE only (migrated to this version first: teamday migrate --db FILE); refused while a server has it open: stop it first',
        'migrates the target, copies every table in one transaction (all or nothing), checks each table\'s row count, prints them',
        'not copied: rate_limit_counters (the current window\'s counts; on SQLite they live in the server process)',
        'sealed values (secrets, token names, addresses) and token hashes are copied as they are, never decrypted: every',
        'instance needs the key FILE was sealed with (the command says which: TEAMDAY_ENCRYPTION_KEY or the key file)',
        'a target that holds rows is refused (exit 1); --replace deletes them in the same transaction (stop its instances first)',
        '--replace refuses while other sessions are connected to the target database (running instances); --force goes ahead anyway',
      ],
      // --db is accepted (scripts pass it to every admin command) only to say which options name the two databases.
      options: { from: req('FILE'), to: req('postgres://URL'), replace: flag, force: flag, db: str('FILE', { hidden: true }) },
      load: () => migrateDataCommand().then((m) => m.migrateData),
    }),
  ),
  top('admin', 'backup', () =>
    leaf({
      name: 'backup',
      summary: 'a checked copy of the database, also while the server runs',
      notes: ['never overwrites FILE; keep the encryption key (key file or TEAMDAY_ENCRYPTION_KEY) too, apart from the backup'],
      options: { out: req('FILE'), ...db },
      load: () => backupCommands().then((m) => m.backup),
    }),
  ),
  top('admin', 'restore', () =>
    leaf({
      name: 'restore',
      summary: 'replace the database with a checked backup (server stopped)',
      notes: ['the database it replaces is kept beside it as FILE.before-restore-TIME'],
      options: { from: req('FILE'), ...db },
      load: () => backupCommands().then((m) => m.restore),
    }),
  ),
  top('admin', 'rekey', () =>
    leaf({
      name: 'rekey',
      summary: 'after a key rotation: re-seal everything under the current key',
      notes: [
        'run it once every instance runs with the new TEAMDAY_ENCRYPTION_KEY and the old key(s) in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS;',
        'it re-seals every value under an older key (token names, addresses, secrets, audit details...) with the same binding,',
        'then moves the key check to the current key: from then on the old keys may be dropped (README: Rotating the key)',
        'one transaction (all or nothing), safe while servers run; prints the values re-sealed per table; a second run re-seals nothing',
        'a value no configured key opens stops it (exit 1), naming the table, row and key id; nothing is changed then',
      ],
      options: db,
      load: () => rekeyCommand().then((m) => m.rekey),
    }),
  ),
  top('admin', 'openapi', () =>
    leaf({
      name: 'openapi',
      summary: 'print or write the OpenAPI document',
      // --db is accepted (every admin command takes it, scripts pass it to all) but unused: the document needs no database.
      options: { out: str('FILE'), db: str('FILE', { hidden: true }) },
      load: () => openapiCommand().then((m) => m.openapi),
    }),
  ),
]

const CLIENT_COMMANDS: Declared[] = [
  top('client', 'agents', () =>
    group('agents', 'list, read, create, change, archive, run agents', [
      leaf({ name: 'list', summary: 'the agents you may see', options: { visibility: str('private|organization|public|unlisted'), category: str('C'), q: str('TEXT'), archived: flag, ...page }, load: () => agents().then((m) => m.list) }),
      leaf({ name: 'get', summary: 'one agent, with its system prompt', positionals: ref('agent'), load: () => agents().then((m) => m.get) }),
      leaf({ name: 'create', summary: 'prints the new agent\'s id', notes: [textNote('system-prompt')], options: { ...agentFields(), name: req('N') }, load: () => agents().then((m) => m.create) }),
      leaf({ name: 'update', summary: 'changes only the options given', notes: [textNote('system-prompt')], positionals: ref('agent'), options: { ...agentFields(), archived: str('true|false') }, load: () => agents().then((m) => m.update) }),
      leaf({ name: 'delete', summary: 'archives the agent', positionals: ref('agent'), load: () => agents().then((m) => m.remove) }),
      leaf({
        name: 'execute',
        summary: 'prints the agent\'s answer; --stream prints it as it is written; --async prints the execution',
        notes: [
          'id at once; --wait (implies --async) polls until it ends. Exit 1 when the execution failed.',
          'Time limits (exit 5, code timeout; the run may go on): the answer, the stream\'s end or --wait\'s end',
          'must come within --timeout (seconds or 90s, 15m, 2h; default 15m, at most 24h; a plain 10000 or more is',
          'refused: TeamDay\'s CLI counts milliseconds); a stream also fails when nothing',
          '(not even its 15 s heartbeat) arrives for 60 s.',
          'The message is required; a long one (a log: an argument stops at ~128 KB): --message-file FILE,',
          'or --message - for stdin. Such texts are sent as read, at most 1 MiB (the server\'s request limit).',
          '--parent-execution ID records the run as a child of that execution (one you started): it counts',
          'against that delegation tree\'s depth and size limits (past them: exit 2, code delegation_limit).',
        ],
        positionals: { ...ref('agent'), extra: "the message is an option here: --message M (-m M), where TeamDay's CLI (agents exec ID MESSAGE) takes it as an argument" },
        options: { message: str('M', { required: true, short: 'm', or: 'message-file' }), 'message-file': str('FILE'), space: str('ID|SLUG'), session: str('ID'), 'parent-execution': str('ID'), stream: flag, async: flag, wait: flag, timeout: str('S|90s|15m') },
        load: () => agents().then((m) => m.execute),
      }),
    ]),
  ),
  top('client', 'executions', () =>
    group('executions', 'runs: status, result, delegation tree, logs', [
      leaf({ name: 'list', summary: 'newest first', options: { agent: str('ID'), status: str('pending|running|completed|failed|cancelled'), space: str('ID'), since: str('ISO'), ...page }, load: () => executions().then((m) => m.list) }),
      leaf({ name: 'get', summary: 'status, result, error, timing and usage', positionals: id('execution'), load: () => executions().then((m) => m.get) }),
      leaf({ name: 'tree', summary: 'the execution and the executions it delegated to', positionals: id('execution'), load: () => executions().then((m) => m.tree) }),
      leaf({ name: 'cancel', summary: 'stops a pending or running execution', positionals: id('execution'), load: () => executions().then((m) => m.cancel) }),
      leaf({ name: 'logs', summary: 'what the execution did, step by step', positionals: id('execution'), load: () => executions().then((m) => m.logs) }),
    ]),
  ),
  top('client', 'tasks', () =>
    group('tasks', 'tasks for people and agents', [
      leaf({ name: 'list', summary: 'newest first', options: { status: str('pending|in_progress|completed|cancelled'), priority: str('low|medium|high|urgent'), 'assigned-to': str('ID'), 'assign-to': str('ID'), space: str('ID'), ...page }, load: () => tasks().then((m) => m.list) }),
      leaf({ name: 'get', summary: 'one task', positionals: id('task'), load: () => tasks().then((m) => m.get) }),
      leaf({ name: 'create', summary: 'prints the new task\'s id', notes: [textNote('description')], options: { ...taskFields(), title: req('T') }, load: () => tasks().then((m) => m.create) }),
      leaf({ name: 'update', summary: 'changes only the options given', notes: [textNote('description')], positionals: id('task'), options: { ...taskFields(), status: str('S'), unassign: flag }, load: () => tasks().then((m) => m.update) }),
      leaf({ name: 'delete', summary: 'deletes the task', positionals: id('task'), load: () => tasks().then((m) => m.remove) }),
    ]),
  ),
  top('client', 'spaces', () =>
    group('spaces', 'spaces and their secrets', [
      leaf({ name: 'list', summary: 'the spaces you may see', options: { archived: flag, ...page }, load: () => spaces().then((m) => m.list) }),
      leaf({ name: 'get', summary: 'one space', positionals: ref('space'), load: () => spaces().then((m) => m.get) }),
      leaf({ name: 'create', summary: 'prints the new space\'s id', notes: [textNote('instructions')], options: { ...spaceFields(), name: req('N') }, load: () => spaces().then((m) => m.create) }),
      leaf({ name: 'update', summary: 'changes only the options given', notes: [textNote('instructions')], positionals: ref('space'), options: { ...spaceFields(), 'remove-agents': str('ID,ID'), archived: str('true|false') }, load: () => spaces().then((m) => m.update) }),
      leaf({ name: 'delete', summary: 'archives the space', positionals: ref('space'), load: () => spaces().then((m) => m.remove) }),
      group('secrets', 'secrets of a space, by name', [
        leaf({ name: 'list', summary: 'names only, never values', positionals: { synopsis: 'SPACE', min: 1, max: 1, missing: 'space ID or slug' }, load: () => spaces().then((m) => m.secretsList) }),
        leaf({
          name: 'set',
          summary: 'KEY alone takes the value of the environment variable KEY (keeps values out of shell history; unset or blank: exit 2)',
          positionals: { synopsis: 'SPACE KEY=VALUE... | KEY...', min: 2, max: 1000, missing: 'space ID and KEY=VALUE' },
          load: () => spaces().then((m) => m.secretsSet),
        }),
        leaf({ name: 'delete', summary: 'removes the secrets; a KEY the space does not have: exit 4', positionals: { synopsis: 'SPACE KEY...', min: 2, max: 1000, missing: 'space ID and KEY' }, load: () => spaces().then((m) => m.secretsDelete) }),
      ]),
    ]),
  ),
  top('client', 'tokens', () => ({
    usageHeader: 'client mode, over HTTP with your token',
    ...group('tokens', 'your tokens (without --email/--org/--db)', [
      leaf({ name: 'list', summary: 'yours; --all: the organization\'s (admins)', options: { all: flag, status: str('active|expired|revoked'), ...page }, load: () => tokens().then((m) => m.list) }),
      leaf({
        name: 'create',
        summary: 'prints only the new token on stdout (store it now: it is never shown again)',
        notes: ['--scopes: at most your token\'s own (the default)', '--expires-in-days: at most until your token (or teamday login) expires: a new token ends then if that is sooner (default 90 days)'],
        options: { name: req('N'), 'expires-in-days': str('D (7-365)'), scopes: str('a,b') },
        load: () => tokens().then((m) => m.create),
      }),
      leaf({
        name: 'revoke',
        summary: 'refused from the next request on',
        notes: ['ID "self": the token this command runs with (a CI job giving up its own token)'],
        positionals: { ...id('token'), synopsis: 'ID|self', missing: 'token ID (see "teamday tokens list")' },
        load: () => tokens().then((m) => m.revoke),
      }),
      leaf({
        name: 'rotate',
        summary: 'prints only the new token; the old one stops at once or after the grace period',
        notes: ['ID "self": the token this command runs with (a CI job renewing its own token)'],
        positionals: { ...id('token'), synopsis: 'ID|self', missing: 'token ID (see "teamday tokens list")' },
        options: { 'expires-in-days': str('D'), 'grace-period-seconds': str('S (0-86400)') },
        load: () => tokens().then((m) => m.rotate),
      }),
    ]),
  })),
  top('client', 'audit', () => ({
    usageHeader: 'client mode, over HTTP (organization admins)',
    ...group('audit', 'security events (without --org/--db; org admins)', [
      leaf({ name: 'list', summary: 'newest first', options: { type: str('T'), 'token-id': str('ID'), 'user-id': str('ID'), since: str('ISO'), until: str('ISO'), ...page }, load: () => import('./client/audit').then((m) => m.list) }),
    ]),
  })),
  top('client', 'members', () => ({
    usageHeader: 'client mode, over HTTP (organization admins)',
    ...group('members', 'the members of your organization (org admins)', [
      leaf({ name: 'list', summary: 'e-mail, user id, role, name, joined; newest first', options: page, load: () => members().then((m) => m.list) }),
      leaf({ name: 'get', summary: 'one member: e-mail, user id, role, name, joined, last sign-in', positionals: { synopsis: 'USER', min: 1, max: 1, missing: 'member (user id or e-mail)' }, load: () => members().then((m) => m.get) }),
      leaf({ name: 'add', summary: 'adds the user (created when new) with the role (default member)', options: { email: req('E'), role: str('admin|member|viewer'), name: str('N') }, load: () => members().then((m) => m.add) }),
      leaf({
        name: 'set-role',
        summary: 'applies to their tokens from the next request; the last admin stays admin',
        positionals: { synopsis: 'USER', min: 1, max: 1, missing: 'member (user id or e-mail)' },
        options: { role: req('admin|member|viewer') },
        load: () => members().then((m) => m.setRole),
      }),
      leaf({ name: 'remove', summary: 'also revokes their tokens in the organization', positionals: { synopsis: 'USER', min: 1, max: 1, missing: 'member (user id or e-mail)' }, load: () => members().then((m) => m.remove) }),
    ]),
  })),
  top('client', 'login', () =>
    leaf({
      name: 'login',
      summary: 'sign in through the browser; stores the login for this server',
      notes: [
        'prints the sign-in URL (and opens it when it can: xdg-open, open); approve it in the console',
        'stores it in $XDG_CONFIG_HOME/teamday/credentials.json (~/.config/...), mode 0600, per server URL; refreshes by itself',
        'token order: --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN, then the stored login for that URL',
      ],
      options: { 'no-browser': flag },
      load: () => login().then((m) => m.login),
    }),
  ),
  top('client', 'logout', () => leaf({ name: 'logout', summary: 'revokes the stored login for this server and deletes it', load: () => login().then((m) => m.logout) })),
  top('client', 'whoami', () => leaf({ name: 'whoami', summary: 'the token in use: where from, role, scopes, expiry', notes: ['source (--token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN or teamday login), id, name, scopes, role, organization, user, expiry; never the secret', "inside an agent run (its teamday_api): scopes is what the run may use, tokenScopes the token's own, agentRun the run's execution and starterScopes the scopes of what started it"], load: () => status().then((m) => m.whoami) })),
  top('client', 'health', () => leaf({ name: 'health', summary: 'is the server up? (no token needed)', notes: ['GET /api/health; exit 0 when the server answers ok, 5 otherwise'], load: () => status().then((m) => m.health) })),
]

const DECLARED: readonly Declared[] = [...ADMIN_COMMANDS, ...CLIENT_COMMANDS]
const built = new Map<Declared, TopCommand>()

function build(d: Declared): TopCommand {
  let c = built.get(d)
  if (!c) built.set(d, (c = d.define()))
  return c
}

/** The top-level names, in declaration order, each once (`tokens` and `audit` have two modes). */
// Loops, not map/filter: JavaScriptCore compiles those built-ins (written in JavaScript) on their
// first call, ~0.1 M instructions apiece, and every command evaluates this module and calls
// commandsNamed (docs/performance.md, Thirty-sixth session).
export const COMMAND_NAMES: readonly string[] = topNames()

function topNames(): string[] {
  const names: string[] = []
  for (let i = 0; i < DECLARED.length; i++) if (!names.includes(DECLARED[i]!.name)) names.push(DECLARED[i]!.name)
  return names
}

/** Every top-level command, in declaration order (admin, then client): `teamday help`, tests. */
export function allCommands(): readonly TopCommand[] {
  return DECLARED.map(build)
}

/** The declarations of a top-level name: one, or two for `tokens` and `audit` (admin, client). */
export function commandsNamed(name: string): TopCommand[] {
  const named: TopCommand[] = []
  for (let i = 0; i < DECLARED.length; i++) if (DECLARED[i]!.name === name) named.push(build(DECLARED[i]!))
  return named
}
