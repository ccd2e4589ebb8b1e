import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { holdsSecret, ISSUED_SECRET } from '../auth/tokens'
import { TOTAL_CAP } from '../db/paging'
import { QueryInteger } from './query-params'
import { errorResponse, named } from './shared-models'

/** Query parameters and response fields every paged list shares (src/db/paging.ts). */

export const cursorParam = t.Optional(
  t.String({
    description: 'Opaque: the `nextCursor` of the previous page of this same list with the same filters. Leave out (or empty) for the first page. Constant cost per page, unlike `offset`.',
  }),
)

export const limitParam = t.Optional(QueryInteger({ minimum: 1, maximum: 200, default: 50, description: 'Page size (1-200, default 50)', error: 'limit must be an integer between 1 and 200' }))

/** `what`: "Items", "Events"… */
/**
 * The most an offset may be: a query integer is at most 15 digits (src/modules/query-params.ts),
 * so a larger one was a 422 while the document gave no maximum.
 */
export const MAX_OFFSET = 999_999_999_999_999

export const offsetParam = (what = 'Items') =>
  t.Optional(
    QueryInteger({
      minimum: 0,
      maximum: MAX_OFFSET,
      default: 0,
      description: `${what} to skip (kept for TeamDay clients; costs time in proportion to the offset: page with \`cursor\` instead)`,
      error: `offset must be an integer between 0 and ${MAX_OFFSET}`,
    }),
  )

export const nextCursorField = t.Nullable(t.String({ description: 'Pass as `cursor` to get the next page; null on the last page' }))

/** `total`, `totalIsEstimate` and `nextCursor`; `what` names the items ("tasks"). */
export const pageFields = (what: string) => ({
  total: Type.Integer({
    description: `Matching ${what} in all, not just this page, counted up to ${TOTAL_CAP}: above that it is ${TOTAL_CAP} and \`totalIsEstimate\` is true. Pages after the first (with \`cursor\`) repeat the first page's count.`,
  }),
  totalIsEstimate: t.Boolean({ description: `true when more than \`total\` (${TOTAL_CAP}) ${what} match` }),
  nextCursor: nextCursorField,
})

export const pageExample = { total: 1, totalIsEstimate: false, nextCursor: null }

const badCursorSchema = errorResponse(
  400,
  'bad_request',
  'The cursor is not one this list issued, or it was issued under other filters or to another caller.',
  'Invalid cursor: it was issued for other filters or to another caller. Pass the nextCursor of a previous response of this same list (tasks) with the same filters, or leave cursor out for the first page.',
  [{ field: 'cursor', message: 'it was issued for other filters or to another caller' }],
)

export const listModels = named({ BadCursor: badCursorSchema })
/** The 400 of every paged list, by model name. */
export const badCursor = 'BadCursor' as const

// ── lists answered as a bare JSON array (TeamDay's CLI reads tasks and executions so) ─────────

/** What a bare-array list says in headers: the next page, and the count when the list has one. */
export interface HeaderPage {
  nextCursor: string | null
  total?: number
  totalIsEstimate?: boolean
}

/**
 * Paging of a list whose body is a bare JSON array, in response headers:
 * - `X-Total-Count`: the matching items, by the capped-count rule of src/db/paging.ts (counted up
 *   to TOTAL_CAP; above that it is TOTAL_CAP and `X-Total-Count-Estimate: true`);
 * - `Link: </api/v1/tasks?…&cursor=…>; rel="next"` (RFC 8288; a reference relative to the
 *   request's origin, so it holds behind a proxy; under a sub-path the sending adapter puts the
 *   base path before it, as on `Location`: src/http/compression.ts): the request's own query
 *   with `cursor` set and `offset` dropped (a cursor already says where the page starts);
 * - `X-Next-Cursor`: the same cursor alone.
 * No next page: neither Link nor X-Next-Cursor.
 */
export function setPagingHeaders(set: { headers: Record<string, string | number> }, request: Request, page: HeaderPage): void {
  if (page.total !== undefined) {
    set.headers['x-total-count'] = String(page.total)
    set.headers['x-total-count-estimate'] = page.totalIsEstimate ? 'true' : 'false'
  }
  if (page.nextCursor === null) return
  const url = new URL(request.url)
  url.searchParams.delete('offset')
  url.searchParams.set('cursor', page.nextCursor)
  set.headers['x-next-cursor'] = page.nextCursor
  // The request's own query comes back in the link, but never a token pasted into it: a query
  // holding a secret's full shape gets no Link (X-Next-Cursor, with the filters the client
  // already has, pages on). A redacted copy pointed at another list (its cursor was refused: 400).
  // Only the full shape: the looser pattern of error bodies would also cut a search such as
  // `q=std_library_functions`, whose list pages on by its link. A token's 43 characters without
  // their `td_` are the whole secret too (holdsTokenBody: their checksum holds), and so is a prefixed
  // near miss (holdsSecret: one character wrong, `td_abc.def…`, rebuilt offline).
  const secret = (s: string) => ISSUED_SECRET.test(s) || holdsSecret(s)
  for (const [name, value] of url.searchParams) if (name !== 'cursor' && (secret(value) || secret(name))) return
  set.headers.link = `<${url.pathname}${url.search}>; rel="next"`
}

const headerDoc = (description: string, schema: object, example: unknown) => ({ description, schema, example })

/**
 * The OpenAPI response headers of a bare-array list (the `x-response-headers` extension of a
 * route's detail; src/http/openapi-publish.ts moves it into the response). `what`: "tasks".
 */
export function pagingHeaderDocs(what: string, path: string, withTotal: boolean) {
  const next = {
    Link: headerDoc(
      `RFC 8288 link to the next page of ${what}, with the same filters: \`<${path}?…&cursor=…>; rel="next"\` (relative to this server; \`offset\` is dropped, the cursor says where the page starts). Absent on the last page, and when the query holds a token (a secret is never echoed; X-Next-Cursor pages on).`,
      { type: 'string' },
      `<${path}?limit=50&cursor=WzEsInRhc2tzLjF4MnkzeiIsMTc2NDAwMDAwMDAwMCwidGFza181TnE4TG1YMnZCM25SOGtUMXdZYSIsNywwXQ>; rel="next"`,
    ),
    'X-Next-Cursor': headerDoc('The cursor of the next page alone (pass it as `cursor`). Absent on the last page.', { type: 'string' }, 'WzEsInRhc2tzLjF4MnkzeiIsMTc2NDAwMDAwMDAwMCwidGFza181TnE4TG1YMnZCM25SOGtUMXdZYSIsNywwXQ'),
  }
  if (!withTotal) return next
  return {
    'X-Total-Count': headerDoc(
      `Matching ${what} in all, not just this page, counted up to ${TOTAL_CAP}: above that it is ${TOTAL_CAP} and \`X-Total-Count-Estimate\` is true. Pages after the first (with \`cursor\`) repeat the first page's count.`,
      { type: 'integer', minimum: 0 },
      7,
    ),
    'X-Total-Count-Estimate': headerDoc(`true when more than \`X-Total-Count\` (${TOTAL_CAP}) ${what} match`, { type: 'string', enum: ['true', 'false'] }, 'false'),
    ...next,
  }
}
