// The framework's floor: an Elysia app (production mode, as the binary runs) with one route that
// answers with the same fixed bytes as bench/bare.ts: what Elysia itself costs a request before
// any of teamday's work (authentication, rate limits, the access log, the list). Run in its own
// process. argv: file content-type [content-encoding]
process.env.NODE_ENV ??= 'production'
const { readFileSync } = await import('node:fs')
const { Elysia } = await import('elysia')

const bytes = readFileSync(process.argv[2]!)
const type = process.argv[3] ?? 'application/json'
const headers: Record<string, string> = process.argv[4] ? { 'content-type': type, 'content-encoding': process.argv[4] } : { 'content-type': type }
const app = new Elysia().get('/*', () => new Response(bytes, { headers })).listen({ port: 0, hostname: '127.0.0.1' })
console.log(`listening on http://127.0.0.1:${app.server!.port}`)
export {}
