/** A TCP relay a test cuts or freezes: a database outage seen from the server (test/pg-outage.test.ts, test/execute-queued-outage.test.ts). */

/**
 * A TCP relay to PostgreSQL: cut() closes every relayed connection and refuses new ones
 * (ECONNREFUSED); freeze() keeps every connection open and accepts new ones but passes nothing
 * on either way (a frozen host, a partition that drops packets), until thaw() sends what waited.
 * It listens on 127.0.0.1:`listenPort` (0: any free port), the same port again after a cut.
 */
export function startRelay(upHost: string, upPort: number, listenPort = 0) {
  let listener: { port: number; stop(closeActive?: boolean): void } | null = null
  const pairs = new Set<{ client: any; server: any }>()
  let port = listenPort
  let frozen = false
  const held: [() => void][] = []
  const send = (write: () => void) => (frozen ? held.push([write]) : write())
  const open = () => {
    const l = Bun.listen<{ pair: { client: any; server: any; pending: Uint8Array[] } }>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
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
          const b = new Uint8Array(d)
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
    freeze() {
      frozen = true
    },
    thaw() {
      frozen = false
      for (const [write] of held.splice(0)) write()
    },
    stop() {
      this.thaw()
      this.cut()
    },
  }
}
