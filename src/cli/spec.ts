import type { ClientIo } from './common'

/**
 * The shape of a command declaration (src/cli/registry.ts declares every command with it) and
 * the options every command of a mode accepts. Types and constants only: the command
 * implementations import their `Run` type from here, and nothing here loads them.
 */

export type Mode = 'admin' | 'client'

/** One option: node:util parseArgs' `type`/`short`, plus what the usage shows and checks. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** The value's placeholder in the usage: `--limit N`. */
  arg?: string
  /** Missing or empty: a usage error, before the command's code is loaded. */
  required?: boolean
  /** Accepted but not listed in the usage (--help). */
  hidden?: boolean
  /**
   * Another option that gives the same value another way (`--message` or `--message-file`): the
   * usage shows them as one choice (`--message M | --message-file FILE`), and a required option
   * is satisfied by either.
   */
  or?: string
}

export type Options = Record<string, OptionSpec>

/** The parsed values of some options (every option may be absent). */
export type Values<O extends Options> = { -readonly [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string }

/** Positional arguments: how the usage shows them, how many, and what a missing one is called. */
export interface Positionals {
  synopsis: string
  min: number
  max: number
  /** "missing <missing>" when fewer than `min` are given. */
  missing: string
  /** Said after "unexpected argument …" when more than `max` are given (what such an argument is written as here). */
  extra?: string
}

/** What a command's implementation gets: the parsed arguments and the terminal. */
export interface Run<V> {
  values: V
  positionals: string[]
  io: ClientIo
}

/** A command's implementation: returns on success (exit 0), throws on failure (the guard maps it). */
export type Handler<V = any> = (run: Run<V>) => Promise<void> | void

export interface Command {
  name: string
  /** One line: `teamday help` lists it; the usage shows it beside the synopsis. */
  summary: string
  /** More lines under the synopsis in the usage. */
  notes?: string[]
  options?: Options
  positionals?: Positionals
  /** A command that runs: loads its implementation (only when it runs). */
  load?: () => Promise<Handler>
  /** A command with subcommands (`teamday spaces secrets list`). */
  subcommands?: Command[]
}

/** A top-level command: `tokens` and `audit` are declared twice, once per mode. */
export interface TopCommand extends Command {
  mode: Mode
  /** After "usage" in its usage text: "admin mode, on the database file (…)". */
  usageHeader?: string
}

const help = { type: 'boolean', short: 'h', hidden: true } as const
/** VAR=value lines read into the environment (src/cli/env-file.ts): the binary loads no .env by itself. */
const envFile = { type: 'string', arg: 'FILE' } as const

/** Options of every command of a mode: one parse setup adds them. */
export const COMMON_OPTIONS = {
  admin: { 'env-file': envFile, help },
  client: {
    url: { type: 'string', arg: 'URL' },
    'token-file': { type: 'string', arg: 'FILE' },
    json: { type: 'boolean' },
    retries: { type: 'string', arg: 'N (default 3)' },
    'env-file': envFile,
    help,
  },
} as const satisfies Record<Mode, Options>

export type ClientValues = Values<typeof COMMON_OPTIONS.client>
