import { write, writeSync } from 'node:fs'
import { redactSecrets } from './auth/tokens'

/**
 * The server's log: one line per event, JSON lines or a readable one-line form, on stderr
 * (stdout carries the human-facing start-up text and the one-time admin token). Fields are
 * explicit: callers never pass a request body or header wholesale; and whatever a field holds (a
 * path, a message naming client input), the line is redacted of anything token-shaped before it
 * is written.
 *
 * Not pino: it fits the binary, but evaluating it costs start-up time (README "Logs" has the
 * figures) and this needs little of it: levels, two formats, a buffered writer.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error'
export type LogLevel = Level | 'silent'
export type LogFormat = 'json' | 'pretty'
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

type Fields = Record<string, unknown>

/** One request, as the access log writes it (src/http/observe.ts fills it). */
export interface AccessFields {
  requestId: string | null
  method: string
  path: string
  status: number
  durationMs: number
  bytes: number | null
  tokenId?: string
  organizationId?: string
  ip: string | null
}

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  /** Whether lines of `level` are written (to skip building fields that would be dropped). */
  enabled(level: Level): boolean
  /** One access-log line (`msg: "request"`), unless the access log is off or the level hides it. */
  access(fields: AccessFields): void
  /**
   * Whether any access line may be written (off, or a level above error, skips gathering them):
   * at `warn` and `error` the lines of 5xx answers, which are `error` lines, are still written.
   */
  readonly accessEnabled: boolean
  /** Writes what is buffered, synchronously (at shutdown; also on process exit). */
  flush(): void
  /** Resolves once every line so far is written (or at most `ms` later: a reader that stopped reading): before a stop's flush, so that no line is left in a write still under way when the process ends. */
  written(ms: number): Promise<void>
}

export interface LoggerOptions {
  format?: LogFormat
  /** false: no access-log lines (TEAMDAY_ACCESS_LOG=off). */
  access?: boolean
}

/**
 * `sink` receives each line (without its newline); by default lines are buffered and written to
 * stderr at most every FLUSH_MS or when BUFFER_BYTES are waiting: under load, one write for many
 * requests instead of a system call each.
 */
export function createLogger(level: LogLevel = 'info', sink?: (line: string) => void, clock: () => number = Date.now, opts: LoggerOptions = {}): Logger {
  const min = ORDER[level]
  const format = opts.format ?? 'json'
  const accessOn = opts.access !== false
  const writer = sink ? null : stderrWriter((count) => line('warn', 'log_lines_dropped', { count, reason: 'stderr took no lines for a while (a stalled log reader?): these were dropped, not written' }))
  const emit = sink ?? writer!.write
  const line = (lvl: Level, msg: string, fields: Fields | undefined) => {
    const time = clock()
    return redactSecrets(format === 'json' ? jsonLine(time, lvl, msg, fields) : prettyLine(time, lvl, msg, fields))
  }
  const log = (lvl: Level) => (msg: string, fields?: Fields) => {
    if (ORDER[lvl] < min) return
    emit(line(lvl, msg, fields))
  }
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    enabled: (lvl) => ORDER[lvl] >= min,
    access(f) {
      if (!accessOn) return
      const lvl: Level = f.status >= 500 ? 'error' : 'info'
      if (ORDER[lvl] < min) return
      const time = clock()
      emit(redactSecrets(format === 'json' ? jsonAccess(time, lvl, f) : prettyAccess(time, lvl, f)))
    },
    accessEnabled: accessOn && ORDER.error >= min,
    flush: () => writer?.flush(),
    written: (ms) => writer?.written(ms) ?? Promise.resolve(),
  }
}

/** TEAMDAY_LOG_FORMAT: json, pretty, or (unset / auto) pretty on a terminal and JSON lines otherwise. */
export function resolveLogFormat(setting: 'json' | 'pretty' | 'auto', isTerminal: boolean): LogFormat {
  return setting === 'auto' ? (isTerminal ? 'pretty' : 'json') : setting
}

// Under load many lines share a millisecond: its ISO string is made once.
let isoMs = NaN
let isoText = ''
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms
    isoText = new Date(ms).toISOString()
  }
  return isoText
}

function jsonLine(time: number, level: Level, msg: string, fields: Fields | undefined): string {
  const head = `{"time":"${isoTime(time)}","level":"${level}","msg":${JSON.stringify(msg)}`
  if (!fields) return head + '}'
  // No replacer function: it makes JSON.stringify several times slower (the access log's cost).
  const rest = JSON.stringify(withErrorsAsText(fields))
  return rest.length > 2 ? `${head},${rest.slice(1)}` : head + '}'
}

/**
 * An access line: one JSON.stringify of an object literal of fixed shape, the same text as
 * jsonLine(time, level, 'request', f) gives (field order; undefined fields left out), without the
 * second string, the slice and the walk for Errors (measured: ~0.7 µs a line against ~1.0).
 */
function jsonAccess(time: number, level: Level, f: AccessFields): string {
  return JSON.stringify({
    time: isoTime(time),
    level,
    msg: 'request',
    requestId: f.requestId,
    method: f.method,
    path: f.path,
    status: f.status,
    durationMs: f.durationMs,
    bytes: f.bytes,
    tokenId: f.tokenId,
    organizationId: f.organizationId,
    ip: f.ip,
  })
}

/** Errors as `Name: message` (JSON.stringify would write {}); fields without one as they are. */
function withErrorsAsText(fields: Fields): Fields {
  let out: Fields | undefined
  for (const k in fields) {
    const v = fields[k]
    if (v instanceof Error) (out ??= { ...fields })[k] = `${v.name}: ${v.message}`
  }
  return out ?? fields
}

const LEVEL_TAG: Record<Level, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' }

function clockTime(time: number): string {
  return isoTime(time).slice(11, 23)
}

function prettyValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (v instanceof Error) return JSON.stringify(`${v.name}: ${v.message}`)
  if (v !== null && typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** `12:00:01.234 INFO  msg key=value key="with spaces"` */
function prettyLine(time: number, level: Level, msg: string, fields: Fields | undefined): string {
  let out = `${clockTime(time)} ${LEVEL_TAG[level]} ${msg}`
  if (fields) for (const k in fields) if (fields[k] !== undefined) out += ` ${k}=${prettyValue(fields[k])}`
  return out
}

/** `12:00:01.234 INFO  GET /api/v1/agents 200 3.1ms 24.6KB req_… token=tok_… org=org_… ip=127.0.0.1` */
function prettyAccess(time: number, level: Level, f: AccessFields): string {
  const size = f.bytes === null ? '-' : f.bytes < 1024 ? `${f.bytes}B` : `${(f.bytes / 1024).toFixed(1)}KB`
  let out = `${clockTime(time)} ${LEVEL_TAG[level]} ${f.method} ${f.path} ${f.status} ${f.durationMs}ms ${size} ${f.requestId ?? '-'}`
  if (f.tokenId) out += ` token=${f.tokenId} org=${f.organizationId}`
  if (f.ip) out += ` ip=${f.ip}`
  return out
}

const FLUSH_MS = 50
const BUFFER_BYTES = 64 * 1024
/** Lines held while stderr does not take them (a stalled log reader) before new ones are dropped, counted. */
const BACKLOG_BYTES = 8 * 1024 * 1024
/** A write to stderr taking this long means nobody reads it (flush() then writes nothing more). */
const STALLED_MS = 2000
/** The most one write hands stderr: 16 KiB in STALLED_MS is 8 KB/s, the slowest reader still counted as reading. */
const WRITE_BYTES = 16 * 1024
const writers: { flush(): void }[] = []
let exitHook = false

/**
 * Lines gathered in memory and written in one go: after FLUSH_MS, or at once past BUFFER_BYTES.
 * Written by asynchronous writes, one at a time, never by a write that blocks the event loop: a
 * pipe whose reader stalled (a log shipper, `| logger`, a full Docker log driver) blocked
 * writeSync, and every request with it, /api/health included. While a write waits, lines gather
 * up to BACKLOG_BYTES; past that they are dropped and counted, and a `log_lines_dropped` line
 * says how many once stderr takes lines again. flush() and process exit write what is left
 * synchronously (nothing buffered is lost on a clean stop). A write cut by an error (a full disk)
 * ends its torn line before the next one, so a line never runs into the next.
 */
function stderrWriter(droppedLine: (count: number) => string) {
  let pending = ''
  let timer: ReturnType<typeof setTimeout> | null = null
  let writing = false
  let dropped = 0
  let torn = false
  const take = (): string => {
    let data = pending
    pending = ''
    if (torn) {
      data = '\n' + data
      torn = false
    }
    if (dropped > 0 && !writing) {
      data += droppedLine(dropped) + '\n'
      dropped = 0
    }
    return data
  }
  const next = () => {
    if (timer !== null) {
      clearTimeout(timer)
      timer = null
    }
    if (writing || (pending === '' && dropped === 0 && !torn)) return
    const buf = Buffer.from(take())
    writing = true
    progressed = performance.now()
    writeOut(buf, 0)
  }
  /** The write under way: what it holds, from where. */
  let inflight: { buf: Buffer; from: number } | null = null
  /** When the lines being written last made progress (performance.now()): their write began, or took some bytes. */
  let progressed = 0
  const writeOut = (buf: Buffer, from: number) => {
    inflight = { buf, from }
    // At most WRITE_BYTES a write: a slow reader's progress is seen (one write of a large backlog
    // to a reader taking 20 KB/s lasted seconds and looked stalled), and what the exit flush
    // writes again after a write it cannot wait for is at most that much.
    write(2, buf, from, Math.min(WRITE_BYTES, buf.length - from), null, (e, n) => {
      inflight = null
      if (!e && n > 0) progressed = performance.now()
      if (!e && from + n < buf.length) return writeOut(buf, from + n)
      if (e && (e as { code?: string }).code === 'EAGAIN') return void setTimeout(() => writeOut(buf, from), 1)
      // A failed write (a full disk, a closed stderr) loses its lines, as writeSync did; a line
      // it began is ended before the next.
      if (e && from > 0 && buf[from - 1] !== 10) torn = true
      writing = false
      if (pending !== '' || dropped > 0) next()
      else for (const w of waiting.splice(0)) w()
    })
  }
  const waiting: (() => void)[] = []
  const written = (ms: number): Promise<void> => {
    next()
    if (!writing) return Promise.resolve()
    return new Promise<void>((resolve) => {
      waiting.push(resolve)
      const t = setTimeout(resolve, ms)
      ;(t as { unref?: () => void }).unref?.()
    })
  }
  const write_ = (line: string) => {
    if (pending.length + line.length > BACKLOG_BYTES) {
      dropped++
      return
    }
    pending += line + '\n'
    if (pending.length >= BUFFER_BYTES) next()
    else if (timer === null) {
      timer = setTimeout(next, FLUSH_MS)
      ;(timer as { unref?: () => void }).unref?.()
    }
  }
  /**
   * Synchronously, what is gathered (a graceful stop, after written(); process exit). A write
   * still under way is written again first: an asynchronous write is lost when the process ends
   * before it is done (measured: 4 times in 5 when exit followed at once), so its lines may come
   * out twice rather than not at all. Unless the lines under way have waited STALLED_MS: nobody
   * reads the pipe, a synchronous write would block until somebody does, and the process could
   * never end (a stop waited for ever, until a SIGKILL); what is left is lost.
   */
  const flush = () => {
    if (timer !== null) {
      clearTimeout(timer)
      timer = null
    }
    if (writing && performance.now() - progressed >= STALLED_MS) {
      pending = ''
      return
    }
    if (inflight !== null) {
      writeAll(inflight.buf.subarray(inflight.from))
      inflight = null
    }
    if (pending === '' && dropped === 0 && !torn) return
    writeAll(take())
  }
  const w = { write: write_, flush, written }
  writers.push(w)
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const x of writers) x.flush()
    })
  }
  return w
}

/** One synchronous write of everything (stderr may be a non-blocking pipe: retried on EAGAIN). */
function writeAll(data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data
  try {
    const n = writeSync(2, buf)
    if (n === buf.length) return
    writeRest(buf.subarray(n))
  } catch (e) {
    if ((e as { code?: string }).code === 'EAGAIN') writeRest(buf)
  }
}

function writeRest(rest: Buffer): void {
  let buf = rest
  for (let tries = 0; buf.length > 0 && tries < 1000; tries++) {
    try {
      const n = writeSync(2, buf)
      buf = buf.subarray(n)
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') return
      Bun.sleepSync(1)
    }
  }
}
