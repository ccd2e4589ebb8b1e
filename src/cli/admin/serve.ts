import { isProduction } from 'elysia/error'
import { createApp } from '../../app'
import { getEngine } from '../../engine/runner'
import { failInterrupted } from '../../engine/store'
import { parsePort } from '../../config'
import { bootstrapIfEmpty } from '../../modules/users/bootstrap'
import { openRuntime } from '../../runtime'
import { configFrom } from '../common'
import type { Run } from '../spec'

/** `teamday serve`: starts the server; resolves after SIGINT/SIGTERM and a graceful stop. */
export async function serve({ values, io }: Run<{ host?: string; port?: string; db?: string }>, signals: NodeJS.Process = process): Promise<void> {
  const config = configFrom(io, values.db, {
    ...(values.host ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: parsePort(values.port) } : {}),
  })
  const rt = openRuntime(config)
  const first = bootstrapIfEmpty(rt)
  // Executions a crash left pending or running can never finish: record them as failed.
  const interrupted = failInterrupted(rt.db, rt.clock.now())
  if (interrupted > 0) rt.logger.warn('executions_interrupted', { count: interrupted, reason: 'interrupted by server restart' })
  const app = createApp(rt)
  // maxRequestBodySize is only the socket's hard guard: the app answers 413 with the JSON
  // envelope for anything over maxBodyBytes (1 MiB) before reading it.
  app.listen({ hostname: config.host, port: config.port, maxRequestBodySize: config.maxBodyBytes * 16, development: false })
  const port = app.server!.port
  // Elysia's own reading of NODE_ENV (see defaultToProductionMode): development mode is slow on bad input.
  if (isProduction) rt.logger.info('http_mode', { mode: 'production' })
  else rt.logger.warn('http_mode', { mode: 'development', note: 'NODE_ENV is not production: validation errors cost far more on large or nested bodies; leave NODE_ENV unset (or production) on a server' })
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const base = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`
  io.out(`teamday ${config.version} listening on http://${config.host}:${port}  (database ${config.dbPath}, key from ${rt.keySource})`)
  io.out(`API docs: ${base}/swagger`)
  if (first) {
    io.out(
      [
        '',
        '================================================================================',
        ` First start: created organization "${first.org}" and admin user ${first.email}.`,
        ' Admin token (shown ONCE, it is not stored; copy it now):',
        '',
        `   ${first.token}`,
        '',
        ` Try it:  curl -H "Authorization: Bearer ${first.token}" ${base}/api/v1/tokens`,
        ` Expires: ${first.expiresAt.toISOString()}. More tokens: teamday tokens create --email ${first.email} --name NAME`,
        '================================================================================',
        '',
      ].join('\n'),
    )
  }
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = async (sig: string) => {
      if (stopping) return
      stopping = true
      rt.logger.info('shutting_down', { signal: sig })
      try {
        // Running executions get up to 10 s to finish, then fail "interrupted by server shutdown".
        await getEngine(rt).shutdown(10_000)
        await app.stop() // stops accepting, lets in-flight requests finish
      } finally {
        rt.close()
        resolve()
      }
    }
    signals.once('SIGINT', () => void stop('SIGINT'))
    signals.once('SIGTERM', () => void stop('SIGTERM'))
  })
  io.out('teamday stopped')
}
