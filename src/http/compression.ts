import { BunAdapter } from 'elysia/adapter/bun'
import { eachWeighted } from './accept'
import { asItCameFrom, noteSentBytes } from './listen'
import { noteJsonBytes, plainJson } from './observe'
import { jsonBody } from '../json-text'
import type { BasePath } from './base-path'

/**
 * Response compression: a JSON body of at least MIN_COMPRESSED_BYTES goes out compressed when
 * the request's Accept-Encoding allows zstd or gzip (fetch in Bun and Node, Python's requests and
 * the TeamDay CLI all send it; curl only with --compressed); so do the Prometheus metrics
 * (textResponse), Swagger UI's files (compressedFile) and the web console's pages (htmlResponse).
 * Smaller bodies, other bodies (streams, redirects) and clients that send no Accept-Encoding get the bytes as they are.
 *
 * Why, measured (docs/performance.md): besides the bytes on the wire, Bun writes a response that
 * is answered after an await (every request on PostgreSQL) uncorked when its body is 15 KiB or
 * more: each header fragment becomes its own send(2), about 49 for an agent list, where a smaller
 * body leaves in one. A 25–50 KB list compresses to a few KB.
 */
export type Coding = 'zstd' | 'gzip'

/** Below this a body is sent as it is: compressing it saves less than it costs. */
export const MIN_COMPRESSED_BYTES = 1024

/** The Content-Type of every JSON body (Bun's Response.json writes the same). */
export const JSON_TYPE = 'application/json;charset=utf-8'

/**
 * The coding to answer with, from an Accept-Encoding header (RFC 9110 §12.5.3): the accepted
 * one (q > 0) with the higher weight, zstd on a tie; `*` stands for both unless named with q=0.
 */
export function acceptedCoding(header: string | null | undefined): Coding | null {
  if (!header) return null
  let zstd = -1
  let gzip = -1
  let any = -1
  eachWeighted(header, (name, q) => {
    if (name === 'zstd') zstd = q
    else if (name === '*') any = q
    else if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip, q)
  })
  if (zstd < 0) zstd = any
  if (gzip < 0) gzip = any
  if (zstd <= 0 && gzip <= 0) return null
  return zstd >= gzip ? 'zstd' : 'gzip'
}

/** The body compressed (fast settings: CPU matters more than the last few percent of size). */
export function compress(text: string | Uint8Array<ArrayBuffer>, coding: Coding): Uint8Array {
  return coding === 'zstd' ? Bun.zstdCompressSync(text, { level: 1 }) : Bun.gzipSync(text, { level: 1 })
}

/**
 * A text response (Prometheus metrics: Prometheus asks for gzip), compressed by the same rules as
 * JSON: 1 KiB or more, a coding the request accepts, `compression` on.
 */
export function textResponse(request: Request, text: string, headers: Record<string, string>, compression: boolean): Response {
  const { body, sentBytes } = encoded(request, text, headers, compression)
  return noteSentBytes(new Response(body, { headers }), sentBytes)
}

/**
 * `text` as it is sent: compressed when `enabled` and the request accepts a coding (`headers`
 * then say so: Vary, Content-Encoding), else as it is; with the text's size and the sent size.
 */
function encoded(request: Request | undefined, text: string, headers: Record<string, unknown>, enabled: boolean): { body: string | Uint8Array; textBytes: number; sentBytes: number } {
  const textBytes = Buffer.byteLength(text)
  const coding = enabled ? negotiate(request, textBytes, headers) : null
  if (coding === null) return { body: text, textBytes, sentBytes: textBytes }
  const body = packed(text, coding, headers)
  return { body, textBytes, sentBytes: body.byteLength }
}

/**
 * A static file's compressed forms (Swagger UI's bundle and stylesheet, 1.7 MB and 190 KB), each
 * made on its first request with slower, smaller settings and then kept for the process. Made
 * off the event loop (Bun's and node:zlib's asynchronous forms run on the thread pool): the
 * bundle takes 40 ms (gzip 6) to 80 ms (zstd 9), which the synchronous forms held every other
 * request for.
 */
export function compressedFile(path: string): (coding: Coding) => Promise<Uint8Array> {
  const forms = new Map<Coding, Promise<Uint8Array>>()
  return (coding) => {
    let form = forms.get(coding)
    if (form === undefined) {
      form = Bun.file(path)
        .bytes()
        .then(async (bytes) => {
          if (coding === 'zstd') return Bun.zstdCompress(bytes, { level: 9 })
          const { gzip } = await import('node:zlib')
          return new Promise<Uint8Array>((ok, fail) => gzip(bytes, { level: 6 }, (e, out) => (e ? fail(e) : ok(out))))
        })
      forms.set(coding, form)
    }
    return form
  }
}

/** Adds `accept-encoding` to a Vary header value (kept when it is there). */
function varyWith(current: unknown): string {
  if (typeof current !== 'string' || current === '') return 'accept-encoding'
  return /(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(current) ? current : `${current}, accept-encoding`
}

/**
 * The coding for a compressible body of `size` bytes and the request's Accept-Encoding, or null
 * to send the bytes as they are; sets Vary when the answer depends on that header. The caller
 * sets Content-Encoding once it has the compressed bytes (`packed`), so that nothing can send
 * the header beside an uncompressed body.
 */
export function negotiate(request: Request | undefined, size: number, headers: Record<string, unknown>): Coding | null {
  if (size < MIN_COMPRESSED_BYTES || request === undefined) return null
  const accept = request.headers.get('accept-encoding')
  if (accept === null) return null
  headers.vary = varyWith(headers.vary)
  return acceptedCoding(accept)
}

/**
 * From this size a JSON body is compressed on the thread pool (Bun's zstdCompress, node:zlib's
 * gzip), not on the event loop: an execute's answer holding a 1.9 MB model answer four times is
 * about 8 MB of JSON, whose gzip at once held every other request for 20-70 ms (text that
 * compresses like prose; more on a loaded machine).
 */
export const OFF_LOOP_FROM_BYTES = 256 * 1024

/** `text` (or its UTF-8 bytes) compressed with `coding` (the same settings as compress) off the event loop. */
export async function compressOffLoop(text: string | Uint8Array<ArrayBuffer>, coding: Coding): Promise<Uint8Array> {
  if (coding === 'zstd') return Bun.zstdCompress(text, { level: 1 })
  const { gzip } = await import('node:zlib')
  return new Promise<Uint8Array>((ok, fail) => gzip(text, { level: 1 }, (e, out) => (e ? fail(e) : ok(out))))
}

/** `text` compressed with `coding`, and Content-Encoding set to say so. */
export function packed(text: string | Uint8Array<ArrayBuffer>, coding: Coding, headers: Record<string, unknown>): Uint8Array {
  const bytes = compress(text, coding)
  headers['content-encoding'] = coding
  return bytes
}

/** The text of each HTML page Response (htmlResponse), for the adapter to compress; gone with the Response. */
const pageTexts = new WeakMap<Response, string>()
/** The text of each page that is never compressed (htmlResponse's `compressible: false`): a sub-path's links only. */
const plainPageTexts = new WeakMap<Response, string>()

/**
 * An HTML page (the web console's): a Response, whose text the compressing adapter can send
 * compressed by the same rules as JSON when the request accepts a coding (every browser does);
 * `compressible: false` (a page holding a secret), never compressed. Under a sub-path the adapter
 * puts the base path before the page's links (withBasePath), compressible or not.
 */
export function htmlResponse(html: string, init: { status: number; headers: Record<string, string> }, compressible = true): Response {
  const res = new Response(html, init)
  ;(compressible ? pageTexts : plainPageTexts).set(res, html)
  return res
}

/** Responses and `set.headers` given the base path already (withBasePath, setLocation): never twice. */
const based = new WeakSet<object>()

/**
 * `response` as a server under a sub-path sends it (src/http/base-path.ts): its `Location`, when
 * a path, and the links of a page (htmlResponse) with the base path before them. The headers of a
 * Response the server made are its own to change (no route answers with Response.redirect's,
 * which cannot be); a page is made again, with its new text.
 */
function withBasePath(response: Response, basePath: BasePath): Response {
  if (based.has(response)) return response
  based.add(response)
  const location = response.headers.get('location')
  if (location !== null) {
    const moved = basePath.href(location)
    if (moved !== location) response.headers.set('location', moved)
  }
  const compressible = pageTexts.get(response)
  const html = compressible ?? plainPageTexts.get(response)
  if (html === undefined) return response
  const text = basePath.page(html)
  const res = new Response(text, { status: response.status, headers: response.headers })
  ;(compressible === undefined ? plainPageTexts : pageTexts).set(res, text)
  based.add(res)
  return res
}

/**
 * A `Link` header value whose reference is a path (`</api/v1/tasks?…>; rel="next"`, the one link
 * the server sends) with the base path before it; any other value as it is.
 */
export function linkWithBasePath(link: string, basePath: BasePath): string {
  const end = link.indexOf('>')
  if (link.charCodeAt(0) !== 60 || end < 0) return link
  return `<${basePath.href(link.slice(1, end))}${link.slice(end)}`
}

/** A page made by htmlResponse, compressed for `request` when it accepts a coding; else null. */
function compressedPage(response: Response, request: Request): Response | null {
  const html = pageTexts.get(response)
  if (html === undefined) return null
  const vary: Record<string, unknown> = { vary: response.headers.get('vary') ?? undefined }
  const coding = negotiate(request, Buffer.byteLength(html), vary)
  if (coding === null) return null
  // A copy of the Headers, not of their entries: several Set-Cookie stay several.
  const headers = new Headers(response.headers)
  headers.set('vary', vary.vary as string)
  headers.set('content-encoding', coding)
  const bytes = compress(html, coding)
  return noteSentBytes(new Response(bytes, { status: response.status, headers }), bytes.byteLength)
}

type MapResponse = typeof BunAdapter.handler.mapResponse
type MapCompactResponse = typeof BunAdapter.handler.mapCompactResponse
type MapEarlyResponse = typeof BunAdapter.handler.mapEarlyResponse
type Set = Parameters<MapResponse>[1]

/**
 * Elysia's Bun adapter whose last step, turning a route's value into a Response, serializes a
 * JSON object or array itself: it tells the access log the JSON's size (noteJsonBytes, so the log
 * need not serialize it again) and, with `enabled` and a request that accepts a coding, compresses
 * it (see above). Everything else takes Elysia's own path unchanged. Hooks before it
 * (idempotency's stored replay) see the value, not the bytes.
 */
export function compressingAdapter(enabled: boolean, basePath?: BasePath): typeof BunAdapter {
  const base = BunAdapter.handler
  /**
   * A Response as it is sent: under a sub-path (src/http/base-path.ts), a `Location` and a page's
   * links with the base path; then an HTML page compressed when allowed (compressedPage),
   * anything else as it is.
   */
  const sub = basePath !== undefined && basePath.path !== '' ? basePath : null
  const sendable = (response: Response, request: Request | undefined) => {
    const res = sub === null ? response : withBasePath(response, sub)
    return (enabled && request?.headers.has('accept-encoding') ? compressedPage(res, request) : null) ?? res
  }
  /**
   * The 201's `Location` of the API (created(), in `set`) and a list's `Link: <…>; rel="next"`
   * (setPagingHeaders, in `set` too, also before a streamed page): with the base path too.
   */
  const setLocation = (set: Set) => {
    if (sub === null || based.has(set.headers)) return
    const { location, link } = set.headers
    if (typeof location !== 'string' && typeof link !== 'string') return
    based.add(set.headers)
    if (typeof location === 'string') set.headers.location = sub.href(location)
    if (typeof link === 'string') set.headers.link = linkWithBasePath(link, sub)
  }
  const mapResponse: MapResponse = (response, set, context) => {
    const request = context as Request | undefined
    setLocation(set)
    if (response instanceof Response) {
      const res = base.mapResponse(sendable(response, request), set, context)
      asItCameFrom(response, res)
      return res
    }
    if (!plainJson(response)) return base.mapResponse(response, set, context)
    const headers = set.headers as Record<string, unknown>
    if (headers['content-type'] === undefined) headers['content-type'] = JSON_TYPE
    // An answer that holds a long string twice (an execution's answer: its result and its last
    // message) has it escaped once (src/json-text.ts).
    // Such an answer comes as its UTF-8 bytes, a smaller one as its text (jsonBody).
    const json = jsonBody(response)
    const textBytes = typeof json === 'string' ? Buffer.byteLength(json) : json.byteLength
    if (request) noteJsonBytes(request, textBytes)
    const coding = enabled ? negotiate(request, textBytes, headers) : null
    if (coding !== null && textBytes >= OFF_LOOP_FROM_BYTES) {
      // Elysia awaits a Promise from here (its mapResponse maps what it resolves to).
      return compressOffLoop(json, coding).then((bytes) => {
        headers['content-encoding'] = coding
        const res = base.mapResponse(bytes, set, context)
        return res instanceof Response ? noteSentBytes(res, bytes.byteLength) : res
      }) as unknown as Response
    }
    const body = coding === null ? json : packed(json, coding, headers)
    const sentBytes = coding === null ? textBytes : (body as Uint8Array).byteLength
    // A string of JSON or compressed bytes: Elysia sends either with `set` (status, headers).
    const res = base.mapResponse(body, set, context)
    return res instanceof Response ? noteSentBytes(res, sentBytes) : res
  }
  // What an error handler returns (the JSON envelope) goes this way: compressed too, its size
  // noted for the access log (a 1.6 KB 422 went out as it was, and logged bytes: null).
  const mapEarlyResponse: MapEarlyResponse = (response, set, context) => {
    // An answer of a hook (a redirect to sign in, a refused form's page): the base path, as any other.
    if (response instanceof Response) return base.mapEarlyResponse(sub === null ? response : withBasePath(response, sub), set, context)
    if (!plainJson(response)) return base.mapEarlyResponse(response, set, context)
    return mapResponse(response, set, context) as Response
  }
  const mapCompactResponse: MapCompactResponse = (response, context) => {
    const request = context as Request | undefined
    if (response instanceof Response) return base.mapCompactResponse(sendable(response, request), context)
    if (!plainJson(response)) return base.mapCompactResponse(response, context)
    return mapResponse(response, { headers: {}, status: 200 } as Set, context)
  }
  return { ...BunAdapter, handler: { ...base, mapResponse, mapCompactResponse, mapEarlyResponse } }
}
