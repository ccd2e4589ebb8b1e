import type { Config } from '../config'
import { AppError } from '../errors'
import { newId } from '../ids'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/
/** Longest URL (path and query) answered: longer ones get 414 (see "Request limits" in the README). */
export const MAX_URL_BYTES = 8 * 1024
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

type Context = { request: Request; set: { headers: Record<string, string | number> } }

/**
 * First thing on every request: its id (the client's X-Request-Id when well-formed), headers
 * every answer carries, and the limits that need no parsing (URL length, declared body size).
 */
export function requestGuards(config: Pick<Config, 'maxBodyBytes'>) {
  const tooLarge = () => new AppError('payload_too_large', `Request body too large: the limit is ${config.maxBodyBytes} bytes (1 MiB).`)
  return {
    head({ request, set }: Context): void {
      const incoming = request.headers.get('x-request-id')
      set.headers['x-request-id'] = incoming && REQUEST_ID.test(incoming) ? incoming : newId('req')
      set.headers['x-content-type-options'] = 'nosniff'
      // Bun itself answers an empty 431 past its header limit (raised to 128 KiB, see package.json).
      if (request.url.length > MAX_URL_BYTES) throw new AppError('uri_too_long', `URL too long: the limit is ${MAX_URL_BYTES} bytes (8 KiB) for the path and query.`)
      // API answers hold tokens and private data: never stored by a cache on the way.
      if (request.url.includes('/api/')) set.headers['cache-control'] = 'no-store'
      const length = request.headers.get('content-length')
      if (length !== null && Number(length) > config.maxBodyBytes) throw tooLarge()
    },
    /**
     * A body that declares no Content-Length (chunked, or a Request built in-process) is counted
     * on a copy, stopping at the limit, so it is rejected before anything parses it. Bun.serve's
     * maxRequestBodySize guards the socket as well; this keeps app.handle() to the same rule.
     */
    async undeclaredBody({ request }: Context): Promise<void> {
      if (!BODY_METHODS.has(request.method) || request.headers.has('content-length') || request.body === null) return
      if (await bodyExceeds(request, config.maxBodyBytes)) throw tooLarge()
    },
  }
}

async function bodyExceeds(request: Request, limit: number): Promise<boolean> {
  const reader = request.clone().body?.getReader()
  if (!reader) return false
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return false
    total += value.byteLength
    if (total > limit) {
      // Not awaited: a tee branch's cancel settles only when the other branch is cancelled too.
      reader.cancel().catch(() => {})
      return true
    }
  }
}
