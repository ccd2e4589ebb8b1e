import { defineConfig } from 'drizzle-kit'

// Two dialects, two folders: `npm run db:generate` runs drizzle-kit for both
// (DRIZZLE_DIALECT=pg picks PostgreSQL's), then scripts/gen-migrations.ts embeds them.
const pg = process.env.DRIZZLE_DIALECT === 'pg'

export default defineConfig(
  pg
    ? { dialect: 'postgresql', schema: './src/db/schema/pg.ts', out: './drizzle/pg' }
    : { dialect: 'sqlite', schema: './src/db/schema/sqlite.ts', out: './drizzle/sqlite' },
)
