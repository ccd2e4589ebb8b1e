import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
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
export const offsetParam = (what = 'Items') =>
  t.Optional(
    QueryInteger({
      minimum: 0,
      default: 0,
      description: `${what} to skip (kept for TeamDay clients; costs time in proportion to the offset: page with \`cursor\` instead)`,
      error: 'offset must be a non-negative integer',
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
