import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config'
import { makeTestApp } from './helpers/app'

/**
 * Issue 14: the document passes Redocly CLI's built-in `recommended` rules with no errors and no
 * warnings, as people's pipelines run it. Redocly runs in an empty folder (no redocly.yaml, no
 * ignore file can apply) on the committed file and on what a running server serves.
 *
 * It also passes `recommended-strict` (the same rules, every warning an error) together with each
 * further built-in rule it can meet (STRICT_CONFIG); each rule that stays off says why there.
 */

const ROOT = join(import.meta.dir, '..')
const REDOCLY = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js')

interface LintResult {
  totals: { errors: number; warnings: number; ignored: number }
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[]
}

/** The envelope every error body has (src/errors.ts): each 4xx, 5xx and `default` response's model lists it. */
const ENVELOPE = '[error, statusCode, statusMessage, code, message, requestId]'

/**
 * `recommended-strict`, and the built-in rules it leaves off that this document meets, as errors.
 * Those that stay off, and why:
 * - operation-4xx-problem-details-rfc7807: errors are TeamDay's JSON envelope as `application/json`
 *   (clients and TeamDay's CLI read it); `application/problem+json` would change every error answer.
 * - path-segment-plural, boolean-parameter-prefixes: the paths (`/api/health`, `/execute`) and
 *   query names (`all`, `archived`, `mission`) are TeamDay's API; renaming them breaks its clients.
 * - required-string-property-missing-min-length: it asks `minLength` of every required string
 *   property; 183 of the 185 are in responses (ids, names, statuses: a bound no client acts on,
 *   written on each), the other two are a request's `role`, an enum, which a minLength adds nothing to.
 * - scalar-property-missing-example: each model has one whole example (what Swagger UI's "Example
 *   Value" shows); an example on every one of its 400-odd scalar properties would repeat them.
 * - tags-alphabetical: the tags are in the order a reader goes through the API (agents, executions,
 *   spaces, tasks… system last), which Swagger UI keeps.
 * - path-excludes-patterns: no pattern to forbid (a trailing slash is no-path-trailing-slash's).
 */
const STRICT_CONFIG = `extends:
  - recommended-strict
rules:
  info-contact: error
  no-invalid-schema-examples: error
  no-invalid-parameter-examples: error
  no-http-verbs-in-paths: error
  no-required-schema-properties-undefined: error
  operation-description: error
  operation-tag-defined: error
  operation-singular-tag: error
  parameter-description: error
  paths-kebab-case: error
  path-http-verbs-order: error
  path-params-defined: error
  array-parameter-serialization: error
  component-name-unique: error
  spec-strict-refs: error
  request-mime-type:
    severity: error
    allowedValues: [application/json]
  # JSON, an execute's Server-Sent Events, the Prometheus text of /metrics.
  response-mime-type:
    severity: error
    allowedValues: [application/json, text/event-stream, text/plain]
  response-contains-header:
    severity: error
    names: { 2XX: [X-Request-Id], 4XX: [X-Request-Id], 5XX: [X-Request-Id], default: [X-Request-Id] }
  response-contains-property:
    severity: error
    names: { 4XX: ${ENVELOPE}, 5XX: ${ENVELOPE}, default: ${ENVELOPE} }
  # Not a built-in: Swagger UI's model view labels an allOf by its branches, and a branch that is
  # a $ref as "(any)" (the error variants were allOf: [$ref: Error]); every model is written out.
  rule/no-all-of:
    subject: { type: Schema, property: allOf }
    assertions: { defined: false }
    message: 'allOf: Swagger UI labels a $ref branch "(any)"; write the model out'
    severity: error
`

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-lint-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function lint(name: string, doc: string, config?: string): Promise<LintResult> {
  const file = join(dir, name)
  writeFileSync(file, doc)
  const configArgs: string[] = []
  if (config !== undefined) {
    writeFileSync(join(dir, `${name}.redocly.yaml`), config)
    configArgs.push('--config', join(dir, `${name}.redocly.yaml`))
  }
  // Bun runs the CLI (the project's runtime; no Node needed). cwd: the empty folder.
  const proc = Bun.spawn([process.execPath, REDOCLY, 'lint', file, ...configArgs, '--format', 'json', '--max-problems', '1000'], {
    cwd: dir,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  })
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  await proc.exited
  // A rule name redocly does not know would be skipped with only this warning: a typo is a failure.
  if (err.includes('Unused rules found')) throw new Error(`redocly ignored a rule of the config: ${err}`)
  const start = out.indexOf('{')
  if (start < 0) throw new Error(`redocly printed no JSON (exit ${proc.exitCode}): ${out}\n${err}`)
  return JSON.parse(out.slice(start)) as LintResult
}

/** The problems, one line each, so a failure says what to fix. */
const summary = (r: LintResult) => r.problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)

/** The committed document and the one a fresh app serves, linted (with `config`, if given): no problem at all. */
async function expectCleanCommittedAndServed(prefix: string, config?: Parameters<typeof lint>[2]): Promise<void> {
  const { app, rt } = await makeTestApp()
  const served = await app.handle(new Request('http://teamday.internal:3000/swagger/json'))
  expect(served.status).toBe(200)
  // At a TEAMDAY_PUBLIC_URL (with a path, given with a trailing slash), `servers` is that URL, and
  // the page's own origin second (another host).
  const pub = await makeTestApp({ config: { publicUrl: loadConfig({ TEAMDAY_PUBLIC_URL: 'https://teamday.internal/td/' }).publicUrl } })
  const servedPublic = await pub.app.handle(new Request('http://127.0.0.1:3000/swagger/json'))
  expect(((await servedPublic.clone().json()) as { servers: unknown }).servers).toEqual([
    { url: 'https://teamday.internal/td', description: 'This server' },
    { url: 'http://127.0.0.1:3000/td', description: 'This server, as this page reached it' },
  ])
  const [committed, live, livePublic] = await Promise.all([
    lint(`${prefix}committed.json`, readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8'), config),
    lint(`${prefix}served.json`, await served.text(), config),
    lint(`${prefix}served-public.json`, await servedPublic.text(), config),
  ])
  rt.close()
  pub.rt.close()
  for (const result of [committed, live, livePublic]) {
    expect(summary(result)).toEqual([])
    expect(result.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 })
  }
}

describe('redocly lint (no ignore file)', () => {
  test(
    'the committed openapi/openapi.json and the served /swagger/json: 0 errors, 0 warnings',
    async () => {
      await expectCleanCommittedAndServed('')
    },
    60_000,
  )

  test(
    'the linter is live: the document as Elysia generates it, before publishing, fails',
    async () => {
      // The same document with one of the leaks this issue removed put back: redocly must see it.
      const doc = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8'))
      doc.components.schemas.Agent.properties.role.nullable = true
      delete doc.servers
      const result = await lint('leaky.json', JSON.stringify(doc))
      expect(summary(result)).toContainEqual(expect.stringContaining('struct: Property `nullable` is not expected here.'))
      expect(summary(result)).toContainEqual(expect.stringContaining('no-empty-servers'))
      expect(result.totals.errors).toBeGreaterThanOrEqual(2)
    },
    60_000,
  )

  test(
    'recommended-strict and the further rules the document meets (STRICT_CONFIG): committed and served, 0 problems',
    async () => {
      await expectCleanCommittedAndServed('strict-', STRICT_CONFIG)
    },
    60_000,
  )

  test(
    'the stricter config is read and bites where recommended does not: an operation without a description, an error model without requestId, a response without X-Request-Id',
    async () => {
      const doc = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8'))
      const op = doc.paths['/api/v1/tasks/{id}'].get
      delete op.description
      const missing = op.responses['404'].$ref ? doc.components.responses[op.responses['404'].$ref.split('/').pop()] : op.responses['404']
      delete missing.headers['X-Request-Id']
      const notFound = doc.components.schemas.TaskNotFound
      delete notFound.properties.requestId
      notFound.required = notFound.required.filter((k: string) => k !== 'requestId')
      delete notFound.examples
      const [strict, recommended] = await Promise.all([lint('bites.json', JSON.stringify(doc), STRICT_CONFIG), lint('bites-recommended.json', JSON.stringify(doc))])
      expect(summary(recommended)).toEqual([])
      const rules = strict.problems.map((p) => p.ruleId)
      for (const rule of ['operation-description', 'response-contains-header', 'response-contains-property']) expect(rules).toContain(rule)
    },
    60_000,
  )
})
