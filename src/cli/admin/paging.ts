import { AppError } from '../../errors'
import type { ListPage } from '../../db/paging'
import { UsageError } from '../common'
import type { ClientIo as Io } from '../common'

/**
 * The admin listings' pages (`users list`, `tokens list`, `audit list`): --limit rows (1-1000) a
 * page, newest first; the next page by the --cursor printed on stderr after it (stdout keeps only
 * the rows, or the JSON, which carries nextCursor itself). A listing of the whole organization
 * (20,000 members: 2 MB printed, 4.6 MB as JSON) is a loop over pages, as over the API's.
 */
export function limitOf(raw: string | undefined, fallback: number): number {
  const text = raw ?? String(fallback)
  const limit = Number(text)
  if (!/^\d+$/.test(text) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number 1-1000')
  return limit
}

/** A refusal of --cursor (not one this listing printed) in the command's words; anything else as it is. */
export function cursorRefusal(e: unknown, command: string, first: string): never {
  const bad = e instanceof AppError && (e.details as { field?: string }[] | undefined)?.[0]?.field === 'cursor'
  if (!bad) throw e
  throw new UsageError(`--cursor ${(e.details as { message: string }[])[0]!.message}: pass the --cursor value a previous "${command}" printed, with the same options, or leave --cursor out for ${first}`)
}

/** After a page that has a next one: how many were shown of how many, and the --cursor of the next. */
export function nextPageNote(io: Io, shown: number, noun: string, page: ListPage): void {
  if (!page.nextCursor) return
  io.err(`${shown} of ${page.total}${page.totalIsEstimate ? '+' : ''} ${noun} shown; older: the same command with --cursor ${page.nextCursor}`)
}
