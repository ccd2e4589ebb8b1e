import { describe, expect, test } from 'bun:test'
import { t } from 'elysia'
import { MARKED } from '../src/json-text'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { inline } from '../src/cli/common'
import { parseRatePolicy } from '../src/config'
import { routeMatcher } from '../src/http/errors'
import { idPattern, type IdPrefix } from '../src/ids'
import { deriveSlug } from '../src/modules/slugs'
import { MAX_PERSON_NAME_LENGTH, namePattern, trimChar, trimEndChar } from '../src/text'
import { checkedSource, collectRegexes } from './helpers/regexes'
import { ROUTE_REQUIREMENTS } from './helpers/routes'
import { spawnCollected } from './helpers/spawn'

/**
 * No regular expression in src/ backtracks in time super-linear (polynomial or exponential) in
 * its input. Two did, found by fuzzing: /(\[[^\]]*\])+$/ on a body field's name and
 * /[A-Za-z0-9_\-.]*\*{4,}[A-Za-z0-9_\-.]*\/g on a provider's error message held the event loop for
 * seconds to minutes with one request. Every expression of src/ is collected from the TypeScript
 * (test/helpers/regexes.ts: literals, RegExp(...) of constants, a string's match/search, a schema's
 * pattern) and given to recheck (a devDependency, run by test/helpers/recheck-child.ts), which
 * reports an expression with an input that makes it backtrack super-linearly. Such an expression
 * is rewritten (a scan, or an expression without two ways to match the same text), or, where its
 * input is the operator's own and read once, listed in ALLOWED with why.
 */

const SRC = resolve(import.meta.dir, '../src')

/**
 * Expressions recheck reports that may stay: each one's input bounded or trusted. By file and the
 * expression's text (its line moves); an entry nothing matches any more fails the test.
 */
const ALLOWED: { file: string; source: string; why: string }[] = [
  {
    file: 'src/cli/env-file.ts',
    source: String.raw`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`,
    why: "a line of the operator's own --env-file, read once when the command starts (whoever writes that file already runs the server)",
  },
  { file: 'src/cli/env-file.ts', source: String.raw`\s+#.*$`, why: "a value in the operator's own --env-file, as above" },
]

const ID_PREFIXES: Record<IdPrefix, true> = {
  org: true, user: true, mem: true, pat: true, req: true, char: true, space: true, task: true, exec: true,
  sec: true, evt: true, idem: true, ses: true, link: true, clic: true, clis: true, clia: true, inst: true,
}

/**
 * Expressions made at run time: where, as written, and instances made by the code itself, which
 * are checked in their stead. One made elsewhere fails the test until it is listed here.
 */
const BUILT: { file: string; text: string; instances: () => RegExp[] }[] = [
  {
    file: 'src/http/errors.ts',
    text: 'new RegExp(`^${body}/?$`)',
    // Every route of the app (test/helpers/routes.ts names them all), each literal segment written
    // `x`: a segment holds no `/`, so what it says does not change how the expression backtracks.
    instances: () => [...new Set(Object.keys(ROUTE_REQUIREMENTS).map((k) => k.split(' ')[1]!.split('/').map((s) => (s === '' || s === '*' || s.startsWith(':') ? s : 'x')).join('/')))].map(routeMatcher),
  },
  // The mark of a long string in a frame (src/json-text.ts): a fixed text, escaped, and digits.
  { file: 'src/json-text.ts', text: "new RegExp(`${escapeRegExp(JSON.stringify(MARK).slice(0, -1))}(\\\\d+)\"`, 'g')", instances: () => [MARKED] },
  { file: 'src/ids.ts', text: "new RegExp(`^(?:${prefixes.join('|')})_[A-Za-z0-9]{${ID_CHARS}}$`)", instances: () => [idPattern(Object.keys(ID_PREFIXES) as IdPrefix[])] },
  { file: 'src/modules/tokens/model.ts', text: 'pattern: namePattern(100)', instances: () => [new RegExp(namePattern(100))] },
  { file: 'src/modules/members/model.ts', text: 'pattern: namePattern(MAX_PERSON_NAME_LENGTH, true)', instances: () => [new RegExp(namePattern(MAX_PERSON_NAME_LENGTH, true))] },
]

/**
 * Expressions of dependencies that a request's own text reaches (found by reading what the binary
 * bundles: Elysia's request handling, its formats, TypeBox, the cookie and HTML libraries; see
 * README "Architecture"), each as written in its file, checked like ours: a dependency upgrade that
 * changes one fails the test until it is looked at again. The rest of what they hold runs on the
 * app's own text (route paths, handler sources, schemas) or is never called by the app: Elysia's
 * cookie parsing (console cookies are read by src/console/http.ts), its multipart and JSON parsers
 * (src/http/body.ts reads bodies) and the formats no request schema declares
 * (test/date-time-format.test.ts holds them to the app's own). One recheck reports may stay only
 * with `bounded`: why its input is short.
 */
const DEPENDENCIES: { file: string; literal: string; reach: string; bounded?: string }[] = [
  { file: 'elysia/dist/parse-query.mjs', literal: String.raw`/\+/g`, reach: 'every query string, and a form body (src/http/body.ts parseQuery)' },
  { file: '@kitajs/html/index.js', literal: `/[<"'&]/`, reach: 'every string a console page shows, the visitor\'s own included' },
  {
    file: 'elysia/dist/type-system/format.mjs',
    literal: String.raw`/(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2}\s\d{4}\s\d{2}:\d{2}:\d{2}\sGMT(?:\+|-)\d{4}\s\([^)]+\)/`,
    reach: "Elysia's date-time check, after the app's own refused the string (src/http/formats.ts): response times, which the app writes",
    bounded: 'checkDateTime gives it no string over MAX_ELYSIA_DATE_TIME (256) characters',
  },
  {
    file: 'elysia/dist/type-system/format.mjs',
    literal: String.raw`/^(?:(?:(?:(?:0?[1-9]|[12][0-9]|3[01])[/\s-](?:0?[1-9]|1[0-2])[/\s-](?:19|20)\d{2})|(?:(?:19|20)\d{2}[/\s-](?:0?[1-9]|1[0-2])[/\s-](?:0?[1-9]|[12][0-9]|3[01]))))(?:\s(?:1[012]|0?[1-9]):[0-5][0-9](?::[0-5][0-9])?(?:\s[AP]M)?)?$/`,
    reach: "Elysia's date-time check, as above",
  },
  { file: 'elysia/dist/type-system/format.mjs', literal: String.raw`/t|\s/i`, reach: "Elysia's date-time check, as above" },
  { file: 'elysia/dist/type-system/format.mjs', literal: String.raw`/^(\d\d\d\d)-(\d\d)-(\d\d)$/`, reach: "Elysia's date-time check, as above" },
  { file: 'elysia/dist/type-system/format.mjs', literal: String.raw`/^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$/i`, reach: "Elysia's date-time check, as above" },
  // Its first, /(\d{4}-[01]\d-…)|…/, is not given to recheck: with no time limit it does not finish
  // (each of its three branches tries every start, a fixed text and one run of digits each:
  // linear; 144 KB of digits and date-times took 0.5 ms). Bounded as the others are.
]

/** The two the fuzzer found, as they were: the checker must report both. */
const FIXED_BEFORE = [
  { source: String.raw`(\[[^\]]*\])+$`, flags: '' },
  { source: String.raw`[A-Za-z0-9_\-.]*\*{4,}[A-Za-z0-9_\-.]*`, flags: 'g' },
]

const fileOf = (where: string) => where.replace(/:\d+:\d+$/, '')

/** A dependency's expression from its literal `/source/flags`. */
function dependencyExpression(d: { literal: string }): RegExp {
  const end = d.literal.lastIndexOf('/')
  return new RegExp(d.literal.slice(1, end), d.literal.slice(end + 1))
}

interface Finding {
  status: 'safe' | 'vulnerable' | 'unknown'
  complexity: string | null
  attack: string | null
  error: string | null
}

/** recheck's findings for `items`, in two processes at once (the longest expressions dealt out first). */
async function recheck(items: { source: string; flags: string }[]): Promise<Finding[]> {
  const dir = mkdtempSync(join(tmpdir(), 'regex-safety-'))
  try {
    const order = items.map((_, i) => i).sort((a, b) => items[b]!.source.length - items[a]!.source.length)
    const halves = [order.filter((_, k) => k % 2 === 0), order.filter((_, k) => k % 2 === 1)]
    const runs = halves.map((half, h) => {
      const file = join(dir, `${h}.json`)
      writeFileSync(file, JSON.stringify(half.map((i) => items[i])))
      return spawnCollected([process.execPath, resolve(import.meta.dir, 'helpers/recheck-child.ts'), file])
    })
    const out: Finding[] = new Array(items.length)
    for (const [h, child] of runs.entries()) {
      // Some 15 s for the two on an idle machine (60 s with recheck's JavaScript build): a deadline of many times that.
      const code = await child.exited(600_000)
      if (code === 'still running') child.proc.kill()
      if (code !== 0) throw new Error(`recheck (${code}): ${child.output().slice(-2000)}`)
      const { findings } = JSON.parse(child.output()) as { findings: Finding[] }
      halves[h]!.forEach((i, k) => (out[i] = findings[k]!))
    }
    return out
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const found = collectRegexes(SRC)

describe('regular expressions in src/', () => {
  test('are found: literals, RegExp(...) of constants, a schema pattern; each made at run time is listed with instances', () => {
    expect(found.length).toBeGreaterThan(200)
    const at = (file: string) => found.filter((r) => fileOf(r.where) === file)
    // A constant's text, across an import: `new RegExp(PROOF_TOKEN)`, and a schema's `pattern: PROOF_TOKEN`.
    expect(at('src/db/identity.ts').map((r) => [r.kind, r.source])).toContainEqual(['RegExp', '^[A-Za-z0-9_-]{43}$'])
    expect(at('src/modules/system/index.ts').map((r) => [r.kind, r.source])).toContainEqual(['schema pattern', '^[A-Za-z0-9_-]{43}$'])
    // A template of constants: `td[cor]?_([A-Za-z0-9]{${TOKEN_RANDOM_LENGTH},})`.
    expect(at('src/auth/token-text.ts').map((r) => r.source)).toContainEqual(expect.stringMatching(/^td\[cor\]\?_\(\[A-Za-z0-9\]\{\d+,\}\)$/))
    const built = found.filter((r) => r.source === null).map((r) => ({ file: fileOf(r.where), text: r.text }))
    expect(built).toEqual(expect.arrayContaining(BUILT.map(({ file, text }) => ({ file, text }))))
    expect(built.length).toBe(BUILT.length)
  })

  test('what the checker is given: the plain characters after a leading ^ taken off, where nothing can look back at them', () => {
    expect(checkedSource('^Conflict: (\\S+) is the last admin', '')).toBe('^(\\S+) is the last admin')
    expect(checkedSource('^\\/api\\/v1\\/tokens\\/[^/]+$', '')).toBe('^[^/]+$')
    expect(checkedSource('^--?x', '')).toBe('^-?x')
    for (const [source, flags] of [['^ab|c', ''], ['^ab', 'm'], ['^ab\\b', ''], ['^ab(?<=b)c', ''], ['a^b', '']]) expect(checkedSource(source!, flags!)).toBe(source!)
  })

  test('none backtracks super-linearly (recheck), but those allowed with a reason', async () => {
    const items = new Map<string, { source: string; flags: string; where: string[] }>()
    const add = (source: string, flags: string, where: string) => {
      const key = `${flags}/${source}`
      const item = items.get(key) ?? { source, flags, where: [] }
      item.where.push(where)
      items.set(key, item)
    }
    for (const r of found) if (r.source !== null) add(r.source, r.flags, r.where)
    for (const b of BUILT) for (const re of b.instances()) add(re.source, re.flags, `${b.file} (${b.text})`)
    // A dependency's, and the pattern TypeBox gives a record's keys (t.Record(t.String(), …): a space's secrets, a task's metadata).
    for (const d of DEPENDENCIES) {
      const re = dependencyExpression(d)
      add(re.source, re.flags, `node_modules/${d.file}${d.bounded ? ' (bounded)' : ''}`)
    }
    for (const key of Object.keys(t.Record(t.String(), t.Unknown()).patternProperties)) add(key, '', 'TypeBox t.Record(t.String(), …) keys')
    const list = [...items.values()]
    const findings = await recheck([...list.map(({ source, flags }) => ({ source: checkedSource(source, flags), flags })), ...FIXED_BEFORE])

    // The checker as configured reports the two the fuzzer found.
    expect(findings.slice(list.length).map((f) => [f.status, f.complexity])).toEqual([
      ['vulnerable', 'polynomial'],
      ['vulnerable', 'polynomial'],
    ])
    const reported = list
      .map((item, i) => ({ ...item, ...findings[i]! }))
      .filter((f) => f.status !== 'safe')
      .filter((f) => !f.where.every((w) => w.endsWith(' (bounded)')))
      .map((f) => ({ ...f, allowed: ALLOWED.find((a) => a.source === f.source && f.where.every((w) => fileOf(w) === a.file)) }))
    const notAllowed = reported.filter((f) => !f.allowed).map(({ where, source, flags, status, complexity, attack, error }) => ({ where, expression: `/${source}/${flags}`, status, complexity, attack, error }))
    expect(notAllowed).toEqual([])
    // An entry that no longer matches a reported expression goes: the list stays short and true.
    expect(ALLOWED.filter((a) => !reported.some((f) => f.allowed === a))).toEqual([])
    // A dependency's expression said to be bounded is one recheck reports (else `bounded` goes).
    const bounded = list.map((item, i) => ({ ...item, ...findings[i]! })).filter((f) => f.where.some((w) => w.endsWith(' (bounded)')))
    expect(bounded.map((f) => [f.where, f.status])).toEqual(DEPENDENCIES.filter((d) => d.bounded).map((d) => [[`node_modules/${d.file} (bounded)`], 'vulnerable']))
  }, 700_000)

  test("the dependencies' expressions listed are still in their files, as written", () => {
    for (const d of DEPENDENCIES) {
      const text = readFileSync(resolve(import.meta.dir, '../node_modules', d.file), 'utf8')
      expect([d.file, d.literal, text.includes(d.literal)]).toEqual([d.file, d.literal, true])
      expect(String(dependencyExpression(d))).toBe(d.literal)
    }
  })
})

/**
 * Expressions the checker reported, rewritten: the same answers as before, on strings made of
 * what each one looks at (the ones with their own tests elsewhere: a provider's error message in
 * engine-provider-edges, a model alias in model-routing, a console page's link back in
 * console-error-pages).
 */
describe('expressions rewritten for it answer as before', () => {
  let seed = 5
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  const strings = (pieces: string[], count = 50_000, length = 10) =>
    Array.from({ length: count }, () => Array.from({ length: random(length + 1) }, () => pieces[random(pieces.length)]).join(''))
  const same = <T>(inputs: string[], before: (s: string) => T, after: (s: string) => T) => {
    const differ = inputs.filter((s) => !Bun.deepEquals(before(s), after(s))).slice(0, 5)
    expect(differ.map((s) => ({ s, before: before(s), after: after(s) }))).toEqual([])
  }

  test('trailing slashes and dashes trimmed (a URL\'s path, a base URL, a slug)', () => {
    same(strings(['/', '/', 'a', '-', '\n']), (s) => s.replace(/\/+$/, ''), (s) => trimEndChar(s, '/'))
    same(strings(['-', '-', 'a', '/']), (s) => s.replace(/^-+|-+$/g, ''), (s) => trimChar(s, '-'))
    // deriveSlug as it was, its cut at 64 characters reached.
    const slugBefore = (name: string) =>
      name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '') || 'agent'
    same(strings(['a', 'B', '-', ' ', '_', '\u00e9', '\u65e5', '--', 'abcdefghij'], 50_000, 12), slugBefore, (s) => deriveSlug(s, 'agent'))
  })

  test("the CLI's line breaks in a name: each run of white space with one in it, one space", () => {
    same(strings([' ', '\t', '\n', '\r', '\r\n', '\u00a0', '\u2028', 'a']), (s) => s.replace(/\s*\r?\n\s*/g, ' '), inline)
  })

  test('a rate limit policy (TEAMDAY_RATE_LIMIT and the like)', () => {
    const before = (value: string) => {
      const v = value.trim().toLowerCase()
      if (v === 'off' || v === 'none' || v === '0') return 'off'
      const m = /^(\d{1,9})\s*\/\s*(\d{0,7})\s*([smh])$/.exec(v)
      if (!m) return undefined
      const limit = Number(m[1])
      const windowMs = Number(m[2] || '1') * { s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 's' | 'm' | 'h']
      return limit < 1 || windowMs < 1000 ? undefined : { limit, windowMs }
    }
    const piece = (pieces: string[]) => pieces[random(pieces.length)]!
    // Mostly a count, white space, a slash, white space, a window or none, white space, a unit.
    const policies = Array.from({ length: 50_000 }, () =>
      [['1', '600', '0', ''], [' ', '\t', '', ''], ['/', '/', ' '], [' ', '\t ', '', ''], ['60', '', '1', '0', '9999999', '12345678'], [' ', '\t', '', ''], ['s', 'M', 'h', 'x', '']].map(piece).join(''),
    )
    same(policies, before, parseRatePolicy)
    expect(policies.filter((p) => typeof parseRatePolicy(p) === 'object').length).toBeGreaterThan(5000)
  })

  test("a person's optional name (the OpenAPI document's pattern)", () => {
    const c = String.raw`\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069`
    const before = new RegExp(`^\\s*(?:[^\\s${c}](?:[^${c}]{0,3}[^\\s${c}])?)?\\s*$`)
    const now = new RegExp(namePattern(5, true))
    same(strings([' ', '\t', 'a', 'b', '\u0001', '\u200e', '\u3000', '\n', '\u00e9'], 50_000, 9), (s) => before.test(s), (s) => now.test(s))
    expect(namePattern(5)).toBe(`^\\s*(?:[^\\s${c}](?:[^${c}]{0,3}[^\\s${c}])?)\\s*$`)
  })
})
