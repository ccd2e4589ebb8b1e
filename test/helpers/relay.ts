/** A TCP relay a test cuts or freezes: a database outage seen from the server (test/pg-outage.test.ts, test/execute-queued-outage.test.ts). */

/**
 * A TCP relay to PostgreSQL: cut() closes every relayed connection and refuses new ones
 * (ECONNREFUSED); freeze() keeps every connection open and accepts new ones but passes nothing
 * on either way (a frozen host, a partition that drops packets), until thaw() sends what waited.
 * loseAnswerOf(match) waits for the next statement whose SQL text matches (told whether its
 * connection is inside a BEGIN … COMMIT), lets it reach the
 * server, drops its answer and every later byte back, and closes that connection a moment later
 * (a COMMIT that lands on the server while its connection is lost). impersonate() answers as
 * something else on that address would (HTTP bytes, then the end) until genuine(). It listens on
 * 127.0.0.1:`listenPort` (0: any free port), the same port again after a cut.
 */
export function startRelay(upHost: string, upPort: number, listenPort = 0) {
  let listener: { port: number; stop(closeActive?: boolean): void } | null = null
  const pairs = new Set<{ client: any; server: any }>()
  let port = listenPort
  let frozen = false
  const held: [() => void][] = []
  const send = (write: () => void) => (frozen ? held.push([write]) : write())
  /** What every new connection is answered with instead of the database (impersonate). */
  let impostor: Uint8Array | null = null
  /** Connections accepted so far. */
  let accepted = 0
  let armed: { match: (sql: string, inTransaction: boolean) => boolean; lost: () => void } | null = null
  /** Reads the client's messages (PostgreSQL's frontend protocol) for the statement loseAnswerOf waits for. */
  const watch = (pair: any, b: Uint8Array) => {
    const w = (pair.watch ??= { buf: new Uint8Array(0), started: false, inTx: false, names: new Map<string, string>() })
    const joined = new Uint8Array(w.buf.length + b.length)
    joined.set(w.buf)
    joined.set(b, w.buf.length)
    let at = 0
    const view = new DataView(joined.buffer)
    const cstring = (from: number): [string, number] => {
      const end = joined.indexOf(0, from)
      return [new TextDecoder().decode(joined.subarray(from, end)), end + 1]
    }
    for (;;) {
      if (!w.started) {
        if (joined.length - at < 8) break
        const len = view.getInt32(at)
        if (joined.length - at < len) break
        // An SSLRequest (answered by one byte) comes before the startup message; neither has a type.
        if (!(len === 8 && view.getInt32(at + 4) === 80877103)) w.started = true
        at += len
        continue
      }
      if (joined.length - at < 5) break
      const type = String.fromCharCode(joined[at]!)
      const len = view.getInt32(at + 1)
      if (joined.length - at < 1 + len) break
      const body = at + 5
      let sql: string | undefined
      if (type === 'P') {
        const [name, next] = cstring(body)
        w.names.set(name, cstring(next)[0])
      } else if (type === 'B') {
        const [, next] = cstring(body)
        sql = w.names.get(cstring(next)[0])
      } else if (type === 'Q') sql = cstring(body)[0]
      at += 1 + len
      if (sql === undefined) continue
      const inTx = w.inTx
      if (/^\s*begin\b/i.test(sql)) w.inTx = true
      else if (/^\s*(commit|rollback)\b/i.test(sql)) w.inTx = false
      if (armed?.match(sql, inTx) && !pair.answerLost) {
        const { lost } = armed
        armed = null
        pair.answerLost = true
        setTimeout(() => {
          pair.client.terminate?.() ?? pair.client.end()
          pair.server?.end()
          pairs.delete(pair)
          lost()
        }, 300)
      }
    }
    w.buf = joined.slice(at)
  }
  const open = () => {
    const l = Bun.listen<{ pair: { client: any; server: any; pending: Uint8Array[]; impostor?: Uint8Array; answered?: boolean } }>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          accepted++
          if (impostor) {
            // Something else answers on the database's address: nothing (a proxy that closes at
            // once), or its bytes once it has read what came (an HTTP server's 400), then the end.
            client.data = { pair: { client, server: null, pending: [], impostor } }
            if (impostor.length === 0) client.end()
            return
          }
          const pair: any = { client, server: null, pending: [] }
          client.data = { pair }
          pairs.add(pair)
          Bun.connect({
            hostname: upHost,
            port: upPort,
            socket: {
              open(server) {
                pair.server = server
                for (const b of pair.pending) send(() => server.write(b))
                pair.pending = []
              },
              data(_s, d) {
                if (pair.answerLost) return
                const b = new Uint8Array(d)
                send(() => client.write(b))
              },
              close() {
                client.end()
                pairs.delete(pair)
              },
              error() {
                client.end()
              },
            },
          }).catch(() => client.end())
        },
        data(client, d) {
          const pair = client.data.pair
          if (pair.impostor) {
            if (!pair.answered) client.write(pair.impostor)
            pair.answered = true
            client.end()
            return
          }
          const b = new Uint8Array(d)
          watch(pair, b)
          if (pair.server) send(() => pair.server.write(b))
          else pair.pending.push(b)
        },
        close(client) {
          client.data.pair.server?.end()
          pairs.delete(client.data.pair)
        },
      },
    })
    listener = l
    port = l.port
  }
  open()
  return {
    get port() {
      return port
    },
    /** How many connections it has accepted (relayed or not). */
    get accepted() {
      return accepted
    },
    cut() {
      listener?.stop(true)
      listener = null
      for (const p of pairs) {
        p.client.terminate?.() ?? p.client.end()
        p.server?.terminate?.() ?? p.server?.end()
      }
      pairs.clear()
    },
    restore() {
      open()
    },
    /**
     * Something else starts answering on the address: every relayed connection is closed, and
     * each new one is answered with `bytes` once the client has sent something (an HTTP server's
     * 400 by default), or closed at once when `bytes` is empty (a proxy that accepts and closes),
     * until genuine().
     */
    impersonate(bytes: string | Uint8Array = 'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n') {
      impostor = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes
      for (const p of pairs) {
        p.client.terminate?.() ?? p.client.end()
        p.server?.terminate?.() ?? p.server?.end()
      }
      pairs.clear()
    },
    /** The database answers on the address again (after impersonate). */
    genuine() {
      impostor = null
    },
    freeze() {
      frozen = true
    },
    thaw() {
      frozen = false
      for (const [write] of held.splice(0)) write()
    },
    /** Resolves once the matching statement was sent on and its connection closed without its answer. */
    loseAnswerOf(match: (sql: string, inTransaction: boolean) => boolean): Promise<void> {
      const { promise, resolve } = Promise.withResolvers<void>()
      armed = { match, lost: resolve }
      return promise
    },
    stop() {
      armed = null
      this.thaw()
      this.cut()
    },
  }
}
