// The benchmark's baseline: a bare Bun.serve answering every request with fixed bytes.
// Run in its own process so the load generator never blocks it. argv: file content-type
// [content-encoding [headers.json]]. `development: false` as teamday's own server (src/http/listen.ts): without
// it (and without NODE_ENV=production) Bun serves through its development-mode handler, another
// code path than the one measured against it.
import { readFileSync } from 'node:fs'

const bytes = readFileSync(process.argv[2]!)
const type = process.argv[3] ?? 'application/json'
// argv[5], optional: a JSON file of every header teamday sent with these bytes (its request id,
// rate-limit and cache headers, fixed values): the same response, headers included.
const headers: Record<string, string> = process.argv[5]
  ? JSON.parse(readFileSync(process.argv[5], 'utf8'))
  : process.argv[4]
    ? { 'content-type': type, 'content-encoding': process.argv[4] }
    : { 'content-type': type }
const server = Bun.serve({ development: false, port: 0, hostname: '127.0.0.1', fetch: () => new Response(bytes, { headers }) })
console.log(`listening on http://127.0.0.1:${server.port}`)
