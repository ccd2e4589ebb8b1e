// The benchmark's baseline: a bare Bun.serve answering every request with fixed bytes.
// Run in its own process so the load generator never blocks it. argv: file content-type
// [content-encoding]
import { readFileSync } from 'node:fs'

const bytes = readFileSync(process.argv[2]!)
const type = process.argv[3] ?? 'application/json'
const headers: Record<string, string> = process.argv[4] ? { 'content-type': type, 'content-encoding': process.argv[4] } : { 'content-type': type }
const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(bytes, { headers }) })
console.log(`listening on http://127.0.0.1:${server.port}`)
