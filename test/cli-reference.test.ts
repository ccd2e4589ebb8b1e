import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Io } from '../src/cli/common'
import { allCommands } from '../src/cli/registry'
import { COMMON_OPTIONS, type Command, type Options } from '../src/cli/spec'
import { run } from '../src/main'
import { Visibility as AgentVisibility } from '../src/modules/agents/model'
import { ExecutionStatus } from '../src/modules/executions/model'
import { TaskPriority, TaskStatus } from '../src/modules/tasks/model'

/**
 * Each client command's options, three times: declared in the registry (src/cli/registry.ts),
 * shown by its --help, and listed in the README's command reference ("Client commands"). The
 * help is generated from the registry, but its notes are prose, and the README is written by
 * hand: both drifted (options of the registry missing from the README, notes naming options
 * that no longer exist).
 */

const README = readFileSync(resolve(import.meta.dir, '../README.md'), 'utf8')
const FLAG = /--[a-z][a-z0-9-]*/g

/** The options a person sees: not the hidden ones (--help's -h, accepted aliases). */
const shown = (o: Options = {}) => Object.entries(o).filter(([, s]) => !s.hidden).map(([name]) => `--${name}`).sort()
const flagsIn = (text: string) => [...new Set(text.match(FLAG) ?? [])].sort()
const common = shown(COMMON_OPTIONS.client)

function leaves(c: Command, path: string[] = [c.name]): { path: string[]; cmd: Command }[] {
  return c.subcommands ? c.subcommands.flatMap((s) => leaves(s, [...path, s.name])) : [{ path, cmd: c }]
}

const clientLeaves = allCommands()
  .filter((c) => c.mode === 'client')
  .flatMap((top) => leaves(top))

async function help(path: string[]): Promise<string> {
  const out: string[] = []
  const io: Io = { out: (s) => out.push(s), err: () => {}, env: {} }
  expect(await run([...path, '--help'], io)).toBe(0)
  return out.join('\n')
}

/** The block of one command in a usage text: its synopsis lines, its summary and its notes. */
function blockOf(usage: string, path: string[]): string {
  const lines = usage.split('\n')
  const head = `  teamday ${path.join(' ')}`
  const start = lines.findIndex((l) => l === head || l.startsWith(`${head} `))
  expect({ path, found: start >= 0 }).toEqual({ path, found: true })
  let end = start + 1
  while (end < lines.length && !lines[end]!.startsWith('  teamday ') && !lines[end]!.startsWith('  common: ')) end++
  return lines.slice(start, end).join('\n')
}

/**
 * The README's command reference, one entry per command: `teamday spaces list [--archived] | get
 * ID|SLUG` names two, `executions get|tree|cancel|logs ID` four, `login … | logout` two top-level
 * ones; `[the create options]` stands for the create command's options; `#` starts a comment.
 */
function readmeReference(): Map<string, string[]> {
  const start = README.indexOf('### Client commands\n\n```\n')
  expect(start).toBeGreaterThan(0)
  const block = README.slice(start, README.indexOf('\n```', start + 30)).split('\n').slice(3)
  const found = new Map<string, string[]>()
  const tops = new Map(allCommands().filter((c) => c.mode === 'client').map((c) => [c.name, c]))
  for (const raw of block) {
    const line = raw.replace(/\s+#.*$/, '')
    expect(line).toStartWith('teamday ')
    const words = line.slice('teamday '.length)
    const [topName] = words.split(' ')
    const top = tops.get(topName!)
    expect({ line, known: !!top }).toEqual({ line, known: true })
    // Segments: `spaces list [--archived] | get ID|SLUG` → `list [--archived]`, `get ID|SLUG`.
    // A ` | ` that does not start a command belongs to its synopsis: `[--stream | --async]`.
    const startsCommand = (part: string) => {
      const first = part.split(' ')[0]!
      return top!.subcommands ? first.split('|').every((n) => top!.subcommands!.some((s) => s.name === n)) : tops.has(first)
    }
    const segments: string[] = []
    for (const part of words.slice(topName!.length).split(' | ')) {
      if (segments.length === 0 || startsCommand(part.trim())) segments.push(part.trim())
      else segments[segments.length - 1] += ` | ${part}`
    }
    for (const [i, segment] of segments.entries()) {
      let path: string[][]
      let rest: string
      if (!top!.subcommands) {
        // `login [--no-browser] | logout`: the segments after the first are top-level commands.
        const [name, ...more] = i === 0 ? [topName!, segment] : segment.split(' ')
        path = [[name!]]
        rest = i === 0 ? segment : more.join(' ')
      } else {
        // Down the subcommands (`secrets set`), each word of them perhaps `get|tree|cancel|logs`.
        path = [[topName!]]
        let parent: Command = top!
        let remaining = segment.split(' ')
        while (parent.subcommands && remaining.length > 0) {
          const names = remaining[0]!.split('|')
          const subs = names.map((n) => parent.subcommands!.find((s) => s.name === n))
          if (subs.some((s) => !s)) break
          path = path.flatMap((p) => names.map((n) => [...p, n]))
          parent = subs[0]!
          remaining = remaining.slice(1)
        }
        rest = remaining.join(' ')
      }
      for (const p of path) {
        const key = p.join(' ')
        let flags = flagsIn(rest)
        if (rest.includes('[the create options]')) {
          const create = clientLeaves.find((l) => l.path.join(' ') === [...p.slice(0, -1), 'create'].join(' '))
          expect({ key, create: !!create }).toEqual({ key, create: true })
          flags = [...new Set([...flags, ...shown(create!.cmd.options)])].sort()
        }
        expect({ key, twice: found.has(key) }).toEqual({ key, twice: false })
        found.set(key, flags)
      }
    }
  }
  return found
}

describe('client commands: registry, --help and README name the same options', () => {
  test("--help's synopsis shows every option of the registry, and its notes name no other", async () => {
    expect(clientLeaves.length).toBeGreaterThan(25)
    for (const { path, cmd } of clientLeaves) {
      const block = blockOf(await help(path), path)
      const declared = shown(cmd.options)
      const synopsis = block.split('\n').filter((l) => l.startsWith('  teamday ') || /^ {10,}\[?--/.test(l)).join('\n')
      expect({ path, synopsis: flagsIn(synopsis) }).toEqual({ path, synopsis: declared })
      const unknown = flagsIn(block).filter((f) => !declared.includes(f) && !common.includes(f))
      expect({ path, unknown }).toEqual({ path, unknown: [] })
    }
  })

  test("README's command reference lists each client command once, with the registry's options", () => {
    const reference = readmeReference()
    const declared = new Map(clientLeaves.map(({ path, cmd }) => [path.join(' '), shown(cmd.options)]))
    expect([...reference.keys()].sort()).toEqual([...declared.keys()].sort())
    const drift = [...declared].flatMap(([key, flags]) => {
      const listed = reference.get(key) ?? []
      const missing = flags.filter((f) => !listed.includes(f))
      const extra = listed.filter((f) => !flags.includes(f))
      return missing.length || extra.length ? [`${key}: ${missing.length ? `not in README ${missing.join(' ')}` : ''}${extra.length ? ` not an option ${extra.join(' ')}` : ''}`] : []
    })
    expect(drift).toEqual([])
  })

  test("an option's listed values are the API's (agents list --visibility lacked unlisted)", () => {
    const literals = (schema: { anyOf?: { const?: unknown }[] }) => (schema.anyOf ?? []).map((s) => s.const).join('|')
    const option = (path: string, name: string) => clientLeaves.find((l) => l.path.join(' ') === path)!.cmd.options![name]!.arg
    expect(option('agents list', 'visibility')).toBe(literals(AgentVisibility))
    expect(option('executions list', 'status')).toBe(literals(ExecutionStatus))
    expect(option('tasks list', 'status')).toBe(literals(TaskStatus))
    expect(option('tasks list', 'priority')).toBe(literals(TaskPriority))
  })

  test('README names the options every client command accepts', () => {
    const line = README.split('\n').find((l) => l.startsWith('Every client command accepts '))
    expect(line).toBeDefined()
    expect(flagsIn(line!)).toEqual(common)
  })
})

/**
 * The README's reference of the server and administration commands ("The binary"), against the
 * registry: each admin command listed, with every option it shows (`--db FILE` is said once for
 * all of them, under the block). `serve`'s metrics listener and `users set-password` were missing.
 */
describe('admin commands: the README names each with its options', () => {
  const adminLeaves = allCommands()
    .filter((c) => c.mode === 'admin')
    .flatMap((top) => leaves(top))

  test("README's block under \"The binary\" lists every admin command with the registry's options", () => {
    const start = README.indexOf('\n```\nteamday serve ')
    expect(start).toBeGreaterThan(0)
    const block = README.slice(start + 5, README.indexOf('\n```', start + 5)).split('\n')
    const listed = new Map<string, string[]>()
    for (const raw of block) {
      const line = raw.replace(/\s+#.*$/, '')
      expect(line).toStartWith('teamday ')
      if (line.startsWith('teamday --version')) continue
      const words = line.slice('teamday '.length).split(' ')
      const top = adminLeaves.filter((l) => l.path[0] === words[0])
      expect({ line, known: top.length > 0 }).toEqual({ line, known: true })
      const leaf = top.find((l) => l.path.length === 1 || l.path[1] === words[1])
      expect({ line, known: !!leaf }).toEqual({ line, known: true })
      const key = leaf!.path.join(' ')
      listed.set(key, [...new Set([...(listed.get(key) ?? []), ...flagsIn(line)])].sort())
    }
    expect(README).toContain('Every admin command accepts `--db FILE`.')
    const drift = adminLeaves.flatMap(({ path, cmd }) => {
      const key = path.join(' ')
      if (!listed.has(key)) return [`${key}: not in README`]
      const flags = shown(cmd.options).filter((f) => f !== '--db')
      const have = listed.get(key)!.filter((f) => f !== '--db')
      const missing = flags.filter((f) => !have.includes(f))
      const extra = have.filter((f) => !flags.includes(f))
      return missing.length || extra.length ? [`${key}:${missing.length ? ` not in README ${missing.join(' ')}` : ''}${extra.length ? ` not an option ${extra.join(' ')}` : ''}`] : []
    })
    expect(drift).toEqual([])
  })
})
