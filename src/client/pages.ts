import { unexpectedAnswer } from './errors'

/**
 * The most pages a command walks through (`members get|set-role|remove` by e-mail: 200 members a
 * page, so 200,000 members): a server that keeps giving new cursors without end stops here.
 */
export const MAX_PAGES = 1000

/**
 * A walk over a list's pages by `nextCursor` that always ends. A server that repeats a cursor,
 * answers a page with nothing new (empty, or only items of earlier pages) and still a next
 * cursor, or goes on past MAX_PAGES pages is not paging a teamday list: an error (exit 5,
 * `not_teamday`), where the loop asked for the same page for ever.
 */
export class PageWalk {
  private readonly cursors = new Set<string>()
  private readonly ids = new Set<string>()
  private pages = 0

  constructor(
    private readonly server: string,
    private readonly what: string,
  ) {}

  /** After a page (the ids of its items, its nextCursor): the cursor of the next page, or undefined at the end. */
  next(ids: readonly string[], cursor: unknown): string | undefined {
    this.pages++
    let fresh = 0
    for (let i = 0; i < ids.length; i++) {
      if (!this.ids.has(ids[i]!)) {
        this.ids.add(ids[i]!)
        fresh++
      }
    }
    if (cursor === null || cursor === undefined || cursor === '') return undefined
    if (typeof cursor !== 'string') throw unexpectedAnswer(this.server, 200, `a next cursor of ${this.what} that is not a string`)
    if (this.cursors.has(cursor)) throw unexpectedAnswer(this.server, 200, `a next cursor of ${this.what} it had already given (page ${this.pages}): its pages go round in a circle`)
    if (fresh === 0) throw unexpectedAnswer(this.server, 200, `a page of ${this.what} with nothing new on it (page ${this.pages}) and yet a next page`)
    if (this.pages >= MAX_PAGES) throw unexpectedAnswer(this.server, 200, `more than ${MAX_PAGES} pages of ${this.what} (stopped there)`)
    this.cursors.add(cursor)
    return cursor
  }
}
