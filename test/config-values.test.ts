import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../src/config'

/** Settings an operator can get wrong by one character: refused at start, naming the setting, never taken for something else. */
describe('the database setting', () => {
  test('a URL of another scheme is refused, not opened as a SQLite file named after it', () => {
    for (const db of ['pg://postgres@127.0.0.1/teamday', 'mysql://x/y', 'https://example.com/db', 'postgress://u@h/d']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: db })).toThrow('is not one teamday opens')
      expect(() => loadConfig({}, { dbPath: db })).toThrow('(--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)')
    }
    // Never the URL's password in the message: only its scheme.
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'mysql://root:s3cret@db/x' })).not.toThrow('s3cret')
    // What it opens: paths, sqlite:, postgres:// and postgresql://.
    for (const db of ['./data/teamday.db', '/var/lib/teamday/t.db', 'sqlite:./t.db', 'sqlite:///tmp/t.db', ':memory:', 'postgres://u@h/d', 'postgresql://u@h:5432/d']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: db })).not.toThrow()
    }
  })
})

describe('set but empty is unset', () => {
  test('TEAMDAY_DB= is the default database (it opened the current folder), HOST= listens on every interface', () => {
    const defaults = loadConfig({})
    expect(loadConfig({ TEAMDAY_DB: '' }).dbPath).toBe(defaults.dbPath)
    expect(loadConfig({ HOST: '' }).host).toBe('0.0.0.0')
  })

  test('TEAMDAY_KEY_FILE= is the key file beside the database, not an in-memory key lost at the next start', () => {
    // An empty key file path is what an in-memory database gets: a random key nobody keeps. A file
    // database served so sealed its token names and secrets under a key gone at the next start.
    for (const db of ['./data/teamday.db', 'postgres://u@h/d']) {
      const defaults = loadConfig({ TEAMDAY_DB: db })
      expect(defaults.keyFile).not.toBe('')
      for (const blank of ['', ' ', '\t']) expect(loadConfig({ TEAMDAY_DB: db, TEAMDAY_KEY_FILE: blank }).keyFile).toBe(defaults.keyFile)
    }
    expect(loadConfig({ TEAMDAY_KEY_FILE: '/etc/teamday/key' }).keyFile).toBe('/etc/teamday/key')
  })

  test('TEAMDAY_LOG_LEVEL= is info (it refused to start), and the level is read in any case, as TEAMDAY_LOG_FORMAT is', () => {
    for (const blank of ['', ' ']) expect(loadConfig({ TEAMDAY_LOG_LEVEL: blank }).logLevel).toBe('info')
    expect(loadConfig({ TEAMDAY_LOG_LEVEL: 'WARN' }).logLevel).toBe('warn')
    expect(loadConfig({ TEAMDAY_LOG_FORMAT: 'JSON' }).logFormat).toBe('json')
    expect(() => loadConfig({ TEAMDAY_LOG_LEVEL: 'verbose' })).toThrow('TEAMDAY_LOG_LEVEL must be one of debug, info, warn, error, silent (got "verbose")')
  })
})

describe('PORT', () => {
  test('empty is unset (3000), not a random port', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(3000)
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080)
    // Each refusal names its setting.
    expect(() => loadConfig({ PORT: 'abc' })).toThrow('PORT must be an integer 0-65535 (got "abc")')
    expect(() => loadConfig({ TEAMDAY_METRICS_PORT: 'abc' })).toThrow('TEAMDAY_METRICS_PORT must be an integer 0-65535')
    expect(() => loadConfig({ PORT: '0x50' })).toThrow('PORT must be')
  })
})

describe('integer settings', () => {
  test('blank is the default, not 0; only decimal digits are taken (no 0x10, 1e3 or 1.0)', () => {
    const defaults = loadConfig({})
    for (const blank of [' ', '\t', '  ']) {
      const c = loadConfig({ TEAMDAY_MAX_DELEGATION_DEPTH: blank, TEAMDAY_MAX_HISTORY_CHARS: blank, TEAMDAY_MAX_DELEGATIONS_PER_RUN: blank })
      expect([c.maxDelegationDepth, c.maxHistoryChars, c.maxDelegationsPerRun]).toEqual([defaults.maxDelegationDepth, defaults.maxHistoryChars, defaults.maxDelegationsPerRun])
    }
    for (const bad of ['0x10', '1e3', '1.0', '+5', '-0', '0b1']) {
      expect(() => loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: bad })).toThrow(`TEAMDAY_MAX_HISTORY_CHARS must be an integer 0-100000000 (got "${bad}")`)
    }
    expect(loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: ' 100 ' }).maxHistoryChars).toBe(100)
    expect(loadConfig({ TEAMDAY_MAX_DELEGATION_DEPTH: '0' }).maxDelegationDepth).toBe(0)
  })
})

describe('model provider URLs', () => {
  test('OPENAI_BASE_URL and ANTHROPIC_BASE_URL must be http(s) URLs: refused at start, naming the variable', () => {
    for (const name of ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL']) {
      for (const bad of ['notaurl', 'localhost:11434', 'ftp://h/v1', 'http://']) expect(() => loadConfig({ [name]: bad })).toThrow(`${name} must be an http:// or https:// URL`)
    }
    // Never the value itself: it may hold a key.
    expect(() => loadConfig({ OPENAI_BASE_URL: 'sk-secret-key-1234' })).not.toThrow('sk-secret')
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }).openaiBaseUrl).toBe('http://127.0.0.1:11434/v1')
    expect(loadConfig({ ANTHROPIC_BASE_URL: 'https://proxy.example.com' }).anthropicBaseUrl).toBe('https://proxy.example.com')
    expect(loadConfig({ OPENAI_API_KEY: 'k' }).openaiBaseUrl).toBe('https://api.openai.com/v1')
    expect(loadConfig({ OPENAI_BASE_URL: '' }).openaiBaseUrl).toBeUndefined()
  })
})
