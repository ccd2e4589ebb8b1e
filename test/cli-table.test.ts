import { describe, expect, test } from 'bun:test'
import { keyValueLines, table, terminalSafe } from '../src/cli/common'
import { details, rows } from '../src/cli/client/common'

// The client's tables are written with loops for start-up's sake (src/cli/common.ts, table()).
// These are the straightforward definitions they must agree with, checked on generated rows
// that include every kind of whitespace `\s` matches, empty and long values, arrays, objects and nulls.
const reference = {
  table(rs: Record<string, unknown>[], columns: string[]): string {
    const cells = rs.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))))
    // Columns as a terminal shows them: a CJK character two, a zero-width one none.
    const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => Bun.stringWidth(row[i]!))))
    const line = (vals: string[]) => vals.map((v, i) => v + ' '.repeat(widths[i]! - Bun.stringWidth(v))).join('  ').trimEnd()
    return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
  },
  short(v: unknown): string | null {
    if (v === null || v === undefined) return null
    const text = Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)
    // An empty list or a blank text shows '-', as no value does: every row has every column.
    if (text.trim() === '') return null
    const s = terminalSafe(text.replace(/\s+/g, ' '))
    if (s.length <= 60) return s
    // The longest run of whole units (an escape, a surrogate pair, any other character) within 59.
    let out = ''
    for (const unit of s.match(/\\u[0-9a-f]{4}|[\ud800-\udbff][\udc00-\udfff]|[^]/g)!) {
      if (out.length + unit.length > 59) break
      out += unit
    }
    return out + '…'
  },
  rows(items: Record<string, unknown>[], columns: string[], empty: string): string {
    if (items.length === 0) return empty
    return reference.table(items.map((r) => Object.fromEntries(columns.map((c) => [c, reference.short(r[c])]))), columns)
  },
  details(obj: Record<string, unknown>, keys?: string[]): string {
    const ks = keys ?? Object.keys(obj)
    const width = Math.max(...ks.map((k) => k.length))
    const fmt = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v))
    // A value's own lines are indented under its first: no value line can read as a key.
    return ks.map((k) => `${k.padEnd(width)}  ${fmt(obj[k]).replace(/\r?\n/g, '\n' + ' '.repeat(width + 2))}`).join('\n')
  },
}

const PIECES = ['a', 'Code Reviewer', 'é', '…', ' ', '  ', '\t', '\n', '\r\n', '\v', '\f', '\u00a0', '\u2003', '\u2028', '\u3000', '\ufeff', '\u200b', 'x'.repeat(70), '', '中文标题', '😀', '\u001b[31m', '\u202e', 'y'.repeat(57)]

/** mulberry32: a small seeded generator (32-bit integer steps, so no precision is lost). */
function seeded(seed: number) {
  let a = seed
  return (n: number) => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) % n
  }
}

function value(rand: (n: number) => number): unknown {
  switch (rand(8)) {
    case 0:
      return null
    case 1:
      return undefined
    case 2:
      return rand(1000)
    case 3:
      return rand(2) === 0
    case 4:
      return [text(rand), text(rand)]
    case 5:
      return { k: text(rand) }
    default:
      return text(rand)
  }
}

function text(rand: (n: number) => number): string {
  let s = ''
  for (let i = rand(5); i > 0; i--) s += PIECES[rand(PIECES.length)]
  return s
}

describe('client tables', () => {
  test('rows, table and details agree with their plain definitions on generated input', () => {
    const rand = seeded(42)
    const columns = ['id', 'name', 'role', 'updatedAt']
    let seen = 0
    for (let round = 0; round < 400; round++) {
      const items = Array.from({ length: rand(6) }, () => Object.fromEntries(columns.map((c) => [c, value(rand)])))
      expect(rows(items, columns, 'none')).toBe(reference.rows(items, columns, 'none'))
      expect(table(items, columns)).toBe(reference.table(items, columns))
      seen += items.length
      if (items.length > 0) {
        expect(details(items[0]!, columns)).toBe(reference.details(items[0]!, columns))
        expect(details(items[0]!)).toBe(reference.details(items[0]!))
      }
    }
    expect(seen).toBeGreaterThan(500)
  })

  test('details: a value with line breaks cannot print a line that reads as another key', () => {
    const out = details({ id: 'task_1', description: 'd1\nstatus        completed\r\nmore', status: 'pending' }, ['id', 'description', 'status'])
    expect(out.split('\n').filter((l) => !l.startsWith(' ')).map((l) => l.split(' ')[0])).toEqual(['id', 'description', 'status'])
    expect(out).toContain('description  d1\n             status        completed\n             more')
  })

  test('a table: upper-case headers, columns two spaces apart, no trailing spaces, long cells cut', () => {
    const out = rows(
      [
        { id: 'a1', name: 'Code\n\tReviewer', role: null },
        { id: 'b22', name: 'x'.repeat(80), role: 'dev' },
      ],
      ['id', 'name', 'role'],
      'none',
    )
    expect(out.split('\n')).toEqual([
      'ID   NAME' + ' '.repeat(58) + 'ROLE',
      'a1   Code Reviewer' + ' '.repeat(49) + '-',
      'b22  ' + 'x'.repeat(59) + '…  dev',
    ])
    expect(rows([], ['id'], 'no agents')).toBe('no agents')
    // No secrets, a blank name: '-', so that the row keeps its columns (`read id name keys archived`).
    expect(rows([{ id: 's1', name: ' ', secretKeys: [], archived: false }], ['id', 'name', 'secretKeys', 'archived'], 'none').split('\n')[1]).toBe('s1  -     -           false')
    expect(keyValueLines(['id', 'name'], ['1', 'x'])).toBe('id    1\nname  x')
  })
})

describe('terminalSafe', () => {
  // Short texts of printable ASCII, tabs and newlines are checked by a loop instead of the
  // regular expression (start-up: docs/performance.md, Thirty-eighth session): the same output
  // as the regular expression's own definition, for every UTF-16 code unit, in short texts and
  // past the loop's length.
  const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g
  const plain = (text: string) => text.replace(/\r\n/g, '\n').replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  test('agrees with the regular expression for every code unit, short and long', () => {
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c)
      for (const text of [ch, `ok: ${ch}\n`, `a\r\n${ch}`, 'x'.repeat(300) + ch]) expect(terminalSafe(text)).toBe(plain(text))
    }
  })
})
