import { newProofToken, type DatabaseIdentity } from '../../db/identity'

/** node:net, loaded on first use: only `serve --reuse-port` asks the port's holder (~0.3 ms of every start's modules otherwise). */
const net = () => require('node:net') as typeof import('node:net')
/** node:tls, loaded only when the port speaks TLS (serve --tls-cert --reuse-port). */
const tls = () => require('node:tls') as typeof import('node:tls')

/** The route a teamday answers with a proof of its database (src/modules/system). */
export const PROOF_PATH = '/api/health/database-proof'
/** How long one question may take, its whole answer; a holder that does not answer in time is not shared with. */
const ANSWER_MS = 3_000
/** Further tries after a connection that broke (a reset, no answer): a holder busy at that moment. */
const RETRIES = 2
/** Answers smaller than this are all a proof needs. */
const MAX_ANSWER_BYTES = 64 * 1024

/** What one GET met: nobody listening, an HTTP answer, or a connection that did not give one. */
export type Reply = { kind: 'nobody'; why: string } | { kind: 'http'; status: number; body: string } | { kind: 'failed'; why: string }

/**
 * Where a process listening on `host` is reached from this machine: loopback of the same family
 * for a wildcard, however it is spelt (`0.0.0.0`; `::`, `::0`, `0:0:0:0:0:0:0:0`), where a
 * connection to the wildcard itself reaches a listener on some systems only.
 */
export function probeAddresses(host: string): string[] {
  const bare = bareHost(host)
  const wildcard = wildcardFamily(bare)
  if (wildcard === 4) return ['127.0.0.1']
  // A dual-stack wildcard: an IPv4 listener on the port takes 127.0.0.1's connections.
  if (wildcard === 6) return ['::1', '127.0.0.1']
  return [bare]
}

/** A host without the brackets of an IPv6 literal (`[::1]` → `::1`). */
export function bareHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1')
}

/** The family of a wildcard address however it is spelt (`0.0.0.0`; `::`, `::0`, `0:0:0:0:0:0:0:0`, bracketed or not), else null. */
export function wildcardFamily(host: string): 4 | 6 | null {
  // By the text alone: `serve` asks this at every start, and node:net (with node:stream under
  // it) is loaded on first use only (docs/performance.md, thirty-seventh session).
  const bare = bareHost(host)
  if (bare === '0.0.0.0') return 4
  if (!bare.includes(':') || !/^[0:]+$/.test(bare)) return null
  // Groups of one to four zeros: eight of them, or fewer around one `::`.
  const halves = bare.split('::')
  if (halves.length > 2) return null
  const groups = halves.flatMap((half) => (half === '' ? [] : half.split(':')))
  if (!groups.every((group) => group.length >= 1 && group.length <= 4)) return null
  return (halves.length === 2 ? groups.length <= 7 : groups.length === 8) ? 6 : null
}

/**
 * One GET on a connection of its own: never a pooled one (each question must be free to reach
 * any of the processes sharing the port) and never through an HTTP proxy from the environment.
 * `connected` runs once the connection is made, before the request is sent (askHolder writes its
 * probe then: nothing is written when nobody listens); should it throw, so does this.
 *
 * `secure`: over TLS, as a port served with --tls-cert speaks (getOnceTls). The holder's
 * certificate is not what is checked: it names the server's public name, not the loopback
 * address asked, and may come from a private CA this process does not trust. What decides is the
 * answer, a proof only a process reading this database's fresh probe row can make (askHolder);
 * the question carries no secret (the nonce stays in the database).
 */
export function getOnce(host: string, port: number, path: string, timeoutMs = ANSWER_MS, connected: () => Promise<void> = async () => {}, secure = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const done = (r: Reply) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      socket.destroy()
      resolve(r)
    }
    const socket = secure ? tls().connect({ host, port, rejectUnauthorized: false, ...(net().isIP(host) ? {} : { servername: host }) }) : net().connect({ host, port })
    // For the whole answer: a socket's own timeout counts only silence, and a holder sending a
    // byte now and then (a slow or hostile program on the port) held the start for hours.
    const deadline = setTimeout(() => done({ kind: 'failed', why: `no answer within ${timeoutMs / 1000} s` }), timeoutMs)
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
      connected().then(
        () => void (settled || socket.write(`GET ${path} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: teamday-serve\r\nAccept: application/json\r\nConnection: close\r\n\r\n`)),
        (e: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(deadline)
          socket.destroy()
          reject(e)
        },
      )
    })
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      size += d.length
      if (size > MAX_ANSWER_BYTES) done({ kind: 'failed', why: 'an answer too long to be a proof' })
    })
    socket.on('end', () => done(parseReply(Buffer.concat(chunks).toString('utf8'))))
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // Nothing listens there: refused, or (IPv6) no such address on this machine.
      if (size === 0 && (e.code === 'ECONNREFUSED' || e.code === 'EADDRNOTAVAIL' || e.code === 'ENETUNREACH' || e.code === 'EAFNOSUPPORT')) done({ kind: 'nobody', why: e.code })
      else done({ kind: 'failed', why: e.code ?? e.message })
    })
  })
}

/** getOnce over TLS: the questions to a port served with --tls-cert. */
export const getOnceTls: Get = (host, port, path, timeoutMs, connected) => getOnce(host, port, path, timeoutMs, connected, true)

/** An HTTP/1.x answer read to its end: status and body (a chunked body decoded). */
export function parseReply(text: string): Reply {
  const head = text.indexOf('\r\n\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)
  if (head < 0 || !status) return { kind: 'failed', why: text.length === 0 ? 'the connection closed without an answer' : 'an answer that is not HTTP' }
  let body = text.slice(head + 4)
  if (/^transfer-encoding:\s*chunked\s*$/im.test(text.slice(0, head))) {
    let out = ''
    for (;;) {
      const eol = body.indexOf('\r\n')
      const n = eol < 0 ? NaN : parseInt(body.slice(0, eol), 16)
      if (!(n > 0)) break
      out += body.slice(eol + 2, eol + 2 + n)
      body = body.slice(eol + 2 + n + 2)
    }
    body = out
  }
  return { kind: 'http', status: Number(status[1]), body }
}

/** Who holds a port, as far as sharing it goes: nobody, processes on this database, or what else. */
export type Holder = { kind: 'nobody'; why: string } | { kind: 'same' } | { kind: 'other'; what: string; remedy: string }

/** How a question is sent: getOnce (a caller may bring its own transport). */
export type Get = typeof getOnce

const ANOTHER_PORT = 'use another --port (PORT)'

/**
 * The starting process's side: its database's identity, and where it writes its probes (a row of
 * its own database's settings, src/db/settings.ts putLiveProbe; an in-memory map in tests of the
 * questions alone).
 */
export interface Prober {
  identity: DatabaseIdentity
  probes: {
    put(name: string, nonce: string): Promise<void>
    remove(name: string): Promise<void>
  }
}

/**
 * Asks whoever answers at `address:port` (once; again after a broken connection) whether it is on
 * this very database: once a connection is made (nobody listening: nothing is written), a fresh
 * nonce is written into this process's database under a fresh name, and only a process that
 * reads it there can answer (src/db/identity.ts). The row is removed again whatever the answer
 * (or the error); one a crash leaves expires (LIVE_PROBE_TTL_MS).
 */
export async function askHolder(address: string, port: number, me: Prober, timeoutMs = ANSWER_MS, get: Get = getOnce): Promise<Holder> {
  const challenge = newProofToken()
  const name = newProofToken()
  const nonce = newProofToken()
  let reply: Reply = { kind: 'nobody', why: 'not asked' }
  // Written at the first connection, once for every try (a try given up on may still be writing it).
  let written: Promise<void> | undefined
  const connected = () => (written ??= me.probes.put(name, nonce))
  try {
    for (let i = 0; i <= RETRIES; i++) {
      reply = await get(address, port, `${PROOF_PATH}?challenge=${challenge}&probe=${name}`, timeoutMs, connected)
      if (reply.kind !== 'failed') break
    }
  } finally {
    if (written) {
      await written.catch(() => {})
      await me.probes.remove(name)
    }
  }
  if (reply.kind === 'nobody') return reply
  if (reply.kind === 'failed') return { kind: 'other', what: `something that does not answer as a teamday (${reply.why})`, remedy: `${ANOTHER_PORT}, or stop what holds it` }
  let answer: unknown
  try {
    answer = JSON.parse(reply.body)
  } catch {}
  if (reply.status === 200 && me.identity.proves(challenge, nonce, answer)) return { kind: 'same' }
  // A well-formed proof that does not check out: a teamday of this version on another database
  // (or a copy of this one: a file copied, a dump restored, which did not see the probe).
  if (reply.status === 200 && typeof (answer as { proof?: unknown })?.proof === 'string') {
    return { kind: 'other', what: 'a teamday on another database', remedy: `${ANOTHER_PORT}, or the database that server is on (--db / TEAMDAY_DB)` }
  }
  return {
    kind: 'other',
    // An older teamday answers 404 (no such route) or 422 (it knows no `probe`).
    what: `a server that does not show which database it is on (HTTP ${reply.status} to GET ${PROOF_PATH}: a teamday older than this one, or another program)`,
    remedy: `${ANOTHER_PORT}; an older teamday shares its port with none of this version: stop it, then start this one`,
  }
}

/**
 * What the questions met: a process on the port (every one that answered on this database), or
 * nobody at any address asked, and why (each address's error). Once this process listens on the
 * port, nobody means that it could not reach its own listener: the check did not happen.
 */
export type PortCheck = { reached: true } | { reached: false; why: string }

/**
 * Refuses (throws, naming the port) unless every process that answers on the port serves the
 * same live database as `me`, or none does. `rounds` questions per address, each on a connection
 * of its own: the kernel hands each new connection to one of the listeners, so several rounds
 * reach several of them.
 */
export async function refuseAnotherDatabase(host: string, port: number, me: Prober, rounds: number, timeoutMs = ANSWER_MS, get: Get = getOnce): Promise<PortCheck> {
  const missed: string[] = []
  let reached = false
  for (const address of probeAddresses(host)) {
    for (let i = 0; i < rounds; i++) {
      const holder = await askHolder(address, port, me, timeoutMs, get)
      if (holder.kind === 'nobody') {
        missed.push(`${address.includes(':') ? `[${address}]` : address}:${port} (${holder.why})`)
        break
      }
      reached = true
      if (holder.kind === 'other') {
        const shown = host.includes(':') ? `[${host}]` : host
        throw new Error(
          `port ${port} on ${shown} is held by ${holder.what}: --reuse-port shares a port only between teamday processes on the same database ` +
            `(the kernel would spread connections between servers with different data): ${holder.remedy}. Nothing was started.`,
        )
      }
    }
  }
  return reached ? { reached: true } : { reached: false, why: `no connection to ${missed.join(' or ')} reached a listener` }
}
