import { randomBase62 } from './auth/random'

/** Opaque prefixed ids that reveal no row count: `pat_`, `user_`, `org_`, `char_`, `space_`, `task_`, … + 20 base62 chars. */
export type IdPrefix = 'org' | 'user' | 'mem' | 'pat' | 'req' | 'char' | 'space' | 'task' | 'exec' | 'sec' | 'evt' | 'idem' | 'ses' | 'link' | 'clic' | 'clis' | 'clia' | 'inst'

/** Base62 characters after an id's prefix. */
const ID_CHARS = 20

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(ID_CHARS)}`
}

/** Matches exactly the ids newId makes with one of `prefixes`. */
export function idPattern(prefixes: readonly IdPrefix[]): RegExp {
  return new RegExp(`^(?:${prefixes.join('|')})_[A-Za-z0-9]{${ID_CHARS}}$`)
}
