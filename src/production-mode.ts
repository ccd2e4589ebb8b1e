// Imported first by main.ts and the admin entry: it must run before any module imports Elysia.
// Nothing else is imported here: `teamday --version` evaluates this file too.

/**
 * Elysia decides once, when it is first imported, whether it runs in production mode: only when
 * NODE_ENV (or ENV) is "production". Otherwise its validation errors pretty-print the whole value
 * sent, which is quadratic in nesting depth (one 60 KB body held the event loop for 7 s). So the
 * server runs in production mode unless NODE_ENV is set (`npm run dev` sets development).
 * main.ts calls this through ./production-mode before anything imports Elysia. Not a build-time
 * `--define`: `bun build --compile` (which implies --production) inlines `process.env.NODE_ENV`
 * only where code spells it out, while Elysia reads `Bun.env` at run time; and a developer can
 * still choose development mode on the binary (`NODE_ENV=development teamday serve`).
 */
export function defaultToProductionMode(env: Record<string, string | undefined> = process.env): void {
  // ENV (Elysia's fallback) is too generic a name to count as asking for development mode.
  if (!env.NODE_ENV) env.NODE_ENV = 'production'
}

defaultToProductionMode()
