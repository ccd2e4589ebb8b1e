import { randomBase62 } from './auth/random'

/** Opaque prefixed ids that reveal no row count: `pat_`, `user_`, `org_`, `char_`, `space_`, `task_`, … + 20 base62 chars. */
export type IdPrefix = 'org' | 'user' | 'mem' | 'pat' | 'req' | 'char' | 'space' | 'task' | 'exec' | 'sec' | 'evt' | 'idem' | 'ses' | 'link' | 'clic' | 'clis' | 'clia' | 'inst'

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(20)}`
}
