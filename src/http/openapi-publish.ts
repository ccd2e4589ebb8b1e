/**
 * The OpenAPI document as published (/swagger/json, `teamday openapi`), made from what
 * @elysiajs/openapi generates from the routes. The route schemas serve the validator first; a
 * few of their parts are not OpenAPI 3.1 and are mapped here, on a copy (the generator's cached
 * document and the route schemas are left alone):
 *
 * - `error`: our custom validation messages (a TypeBox/Elysia option). They stay in the
 *   validator; a schema keyword OpenAPI does not know is dropped.
 * - `nullable` (OpenAPI 3.0): 3.1 says `type: [..., "null"]`, which the generator writes too; the
 *   leftover `nullable` goes, and a nullable schema without a type gets a `null` branch.
 * - Elysia's `t.Integer`/`t.Numeric` (`anyOf: [numeric string, integer]`, so that form and query
 *   values convert): the document says the one real type, integer or number.
 * - A union with an unconstrained branch (`t.Nullable(t.Unknown())`) is unconstrained; a union of
 *   one type and null is `type: [X, "null"]`.
 * - A parameter's description: on the parameter (where Swagger UI shows it), not in its schema.
 * - Named models (components.schemas) that the generator inlined where another schema embeds them
 *   (an agent in a list of agents) are replaced by a `$ref`; an error variant (`TaskNotFound`) is
 *   the error envelope's (`Error`) object schema with its own description and example (errorVariant).
 *
 * One loss happens inside the generator, before that copy: it turns a union of literals
 * (`t.Union([t.Literal('active'), …], { description })`) into `{type: 'string', enum}` and drops
 * every option of the union, its description first. `generatorView` (./openapi-generator-view.ts)
 * hands the generator the app with such unions already written that way, options kept.
 */

import {
  DATABASE_UNAVAILABLE,
  DATABASE_UNAVAILABLE_503,
  IDEMPOTENCY_400,
  IDEMPOTENCY_409,
  IDEMPOTENCY_CONFLICT,
  INVALID_HOST,
  INVALID_HOST_400,
  INVALID_IDEMPOTENCY_KEY,
  INVALID_PATH_PARAMETER,
  INVALID_PATH_PARAMETER_422,
  NUL_IN_QUERY,
  NUL_IN_QUERY_422,
  UNSUPPORTED_CONTENT_ENCODING,
  UNSUPPORTED_CONTENT_ENCODING_415,
} from '../modules/shared-models'
import { unlimitedRoute } from './ratelimit'
import { ERROR_STATUS } from '../errors'
import { MAX_BODY_MEMBERS } from '../json-limits'

type Json = any
type Schema = Record<string, Json>

/** An operation's own 400, or the Idempotency-Key's, names the Host case too (withRequestLimits). */
const HOST_400 = 'Or the Host header is not `host[:port]` (`bad_request`).'

export const isObject = (v: unknown): v is Schema => !!v && typeof v === 'object' && !Array.isArray(v)

/** Keywords whose value is a map of name → schema. */
export const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']
/** Keywords whose value is a list of schemas. */
export const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems']
/** Keywords whose value is one schema. */
export const SCHEMA_VALUES = ['items', 'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'contains', 'not', 'if', 'then', 'else', 'propertyNames']
/** Not OpenAPI 3.1 schema keywords: Elysia/TypeBox options. */
const DROPPED = ['error', 'nullable']
/** Keywords that describe a schema without constraining it. */
const ANNOTATIONS = new Set(['description', 'examples', 'example', 'title', 'default', 'deprecated', 'readOnly', 'writeOnly'])

/**
 * An array option naming the model of its items, for a list the validator takes as any JSON
 * (a recursive tree: `children` of an ExecutionTreeNode are ExecutionTreeNodes): published as
 * `items: {$ref}`.
 */
export const ITEMS_MODEL = 'x-items-model'

/**
 * A schema option holding JSON Schema keywords for the document only: a rule that a service
 * checks after the route's validation (src/modules/**), stated where a client reads the request
 * schema, while the validator never sees it. The service's answer stays the one clients get: its
 * status and `code`, its message naming the key or the count, and its order after the access
 * checks (a member's oversized body to an admin-only route is 403 before it is 422). Published
 * as those keywords on the schema that holds the option (after the schema's own).
 */
export const SERVICE_RULE = 'x-service-rule'

/** The option stating `keywords` in the document only (SERVICE_RULE): spread into a schema's options. */
export function serviceRule(keywords: Schema): { [SERVICE_RULE]: Schema } {
  return { [SERVICE_RULE]: keywords }
}

/** One schema made OpenAPI 3.1 (a new object; nested schemas too). */
export function publishSchema(schema: Json): Json {
  if (!isObject(schema)) return schema
  const { [SERVICE_RULE]: rule, ...own } = schema
  const input: Schema = isObject(rule) ? { ...own, ...rule } : schema
  const out: Schema = {}
  for (const [key, value] of Object.entries(input)) {
    if (DROPPED.includes(key)) continue
    if (key === ITEMS_MODEL) {
      out.items = { $ref: `#/components/schemas/${value}` }
      continue
    }
    if (SCHEMA_MAPS.includes(key) && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, publishSchema(v)]))
    else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) out[key] = value.map(publishSchema)
    else if (SCHEMA_VALUES.includes(key) && isObject(value)) out[key] = key === 'items' && typeof input[ITEMS_MODEL] === 'string' ? out[key] : publishSchema(value)
    else out[key] = value
  }
  if (typeof input[ITEMS_MODEL] === 'string') out.items = { $ref: `#/components/schemas/${input[ITEMS_MODEL]}` }
  if (input.nullable === true) addNull(out)
  // A nullable enum (the generator writes `type: ["string", "null"]` and the values): null is one of them.
  if (Array.isArray(out.type) && out.type.includes('null') && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null]
  return simplifyUnion(out)
}

function addNull(s: Schema): void {
  if (typeof s.type === 'string') s.type = s.type === 'null' ? 'null' : [s.type, 'null']
  else if (Array.isArray(s.type)) {
    if (!s.type.includes('null')) s.type = [...s.type, 'null']
  } else if (Array.isArray(s.anyOf)) {
    if (!s.anyOf.some((b: Json) => isObject(b) && b.type === 'null')) s.anyOf = [...s.anyOf, { type: 'null' }]
  }
  // Neither: the schema accepts null already (no type constraint).
}

const isEmpty = (s: Json) => isObject(s) && Object.keys(s).every((k) => ANNOTATIONS.has(k))

function simplifyUnion(s: Schema): Schema {
  const branches = s.anyOf
  if (!Array.isArray(branches)) return s
  // A branch that takes anything makes the union take anything.
  if (branches.some(isEmpty)) {
    const { anyOf: _, ...rest } = s
    return rest
  }
  // Elysia's numeric types: a numeric string (for form and query values) or the number.
  const numeric = branches.find((b: Json) => isObject(b) && (b.type === 'integer' || b.type === 'number'))
  const numericString = branches.find((b: Json) => isObject(b) && b.type === 'string' && (b.format === 'integer' || b.format === 'numeric'))
  if (branches.length === 2 && numeric && numericString) {
    const { anyOf: _, ...rest } = s
    const { default: _d, format: _f, type: _t, ...stringConstraints } = numericString
    return { ...stringConstraints, ...numeric, ...rest }
  }
  // `X or null` with one type: `type: [X, "null"]`, as the generator writes it for plain types.
  const nonNull = branches.filter((b: Json) => !(isObject(b) && b.type === 'null' && Object.keys(b).length === 1))
  const only = nonNull[0]
  if (branches.length === 2 && nonNull.length === 1 && isObject(only) && typeof only.type === 'string' && only.type !== 'null' && Object.keys(only).every((k) => !(k in s))) {
    const { anyOf: _, ...rest } = s
    const merged: Schema = { ...rest, ...only, type: [only.type, 'null'] }
    // An enum lists its values: null among them, or null would be refused.
    if (Array.isArray(only.enum) && !only.enum.includes(null)) merged.enum = [...only.enum, null]
    if ('const' in only) return s
    return merged
  }
  return s
}

/** The canonical text of a schema: object keys sorted, so equal schemas compare equal. */
function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`
  return JSON.stringify(v)
}

/** A named model without what the naming adds (the root's additionalProperties: false). */
const modelKey = (s: Schema) => {
  const { additionalProperties, ...rest } = s
  return canonical(additionalProperties === false ? rest : s)
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })

/**
 * Replaces, inside `s`, every schema equal to a named model (other than `self`) by a `$ref` to it.
 * Returns the new schema (the root itself is never replaced).
 */
function refModels(s: Json, models: Map<string, string>, self: string | undefined, root = true): Json {
  if (!isObject(s)) return s
  if (!root) {
    const name = models.get(modelKey(s))
    if (name !== undefined && name !== self) return ref(name)
  }
  const out: Schema = {}
  for (const [key, value] of Object.entries(s)) {
    if (SCHEMA_MAPS.includes(key) && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, refModels(v, models, self, false)]))
    else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) out[key] = value.map((v) => refModels(v, models, self, false))
    else if (SCHEMA_VALUES.includes(key) && isObject(value)) out[key] = refModels(value, models, self, false)
    else out[key] = value
  }
  return out
}

/**
 * A model that is a list itself (TaskList, ExecutionList: a bare JSON array) says its items'
 * type beside their `$ref` (`items: {$ref: Task, type: 'object'}`). Swagger UI labels a model's
 * collapsed row from the model alone, before it resolves any reference: a `$ref` without a type
 * is "any", and those two were "array<any>" where every other list (an object whose `tokens`,
 * `agents`… are `$ref`s, resolved once the row is opened) showed its items' type. JSON Schema
 * 2020-12 (OpenAPI 3.1) takes keywords beside a `$ref`; `type` repeats the model's own.
 */
function withTypedRootItems(schemas: Schema): Schema {
  const prefix = '#/components/schemas/'
  return Object.fromEntries(
    Object.entries(schemas).map(([name, s]) => {
      const items = isObject(s) ? s.items : undefined
      if (!isObject(items) || typeof items.$ref !== 'string' || !items.$ref.startsWith(prefix) || items.type !== undefined) return [name, s]
      const model = schemas[items.$ref.slice(prefix.length)]
      if (!isObject(model) || model.type === undefined) return [name, s]
      return [name, { ...s, items: { ...items, type: model.type } }]
    }),
  )
}

/**
 * Response headers a route declares in its detail (`x-response-headers: { 200: { Link: {…} } }`):
 * the generator rebuilds `responses` from the response schemas, so they are put there here.
 */
export const RESPONSE_HEADERS = 'x-response-headers'

/**
 * `op` without its extension `key` (`{ <status>: value }`), each of its responses that the
 * extension names replaced by `merge(response, value)` (kept when that is undefined); a status the
 * operation does not answer is skipped. The three response extensions below are read this way.
 */
function mergedPerStatus(op: Schema, key: string, merge: (own: Schema, value: unknown) => Schema | undefined): Schema {
  const said = op[key]
  if (!isObject(said)) return op
  const { [key]: _, ...rest } = op
  const responses = { ...rest.responses }
  for (const [status, value] of Object.entries(said)) {
    const own = responses[status]
    if (!isObject(own)) continue
    responses[status] = merge(own, value) ?? own
  }
  return { ...rest, responses }
}

function withResponseHeaders(op: Schema): Schema {
  return mergedPerStatus(op, RESPONSE_HEADERS, (own, headers) => ({ ...own, headers: { ...own.headers, ...(headers as Schema) } }))
}

/**
 * What each of a route's successes returns, said for that operation (`x-response-descriptions:
 * { 201: 'The task created, …' }`): the generator describes a response by its model's
 * description, or as "Response for status 200", the same words on every operation. Put in
 * place of what the generator wrote (and of an `x-response-content` description).
 */
export const RESPONSE_DESCRIPTIONS = 'x-response-descriptions'

function withResponseDescriptions(op: Schema): Schema {
  return mergedPerStatus(op, RESPONSE_DESCRIPTIONS, (own, description) => (typeof description === 'string' ? { ...own, description } : undefined))
}

/**
 * Other media types a route's response may come as (`x-response-content: { 200: { description,
 * content: { 'text/event-stream': {…} } } }`): the generator writes only the response schema's
 * JSON, so they are added here, with a description of the response as a whole.
 */
export const RESPONSE_CONTENT = 'x-response-content'

function withResponseContent(op: Schema): Schema {
  return mergedPerStatus(op, RESPONSE_CONTENT, (own, more) =>
    isObject(more) ? { ...own, ...(typeof more.description === 'string' && { description: more.description }), content: { ...own.content, ...more.content } } : undefined,
  )
}

/**
 * What any operation can answer before its route runs, each response once in `components`
 * (REQUEST_LIMIT_COMPONENTS), referred to by each operation: 414 from every one (src/http/guards.ts),
 * 413 from every one (a declared Content-Length over the limit is refused on a route that takes no
 * body too), 415 from those that read a body (src/http/body.ts: a Content-Encoding), 422 from
 * those with a path parameter (malformed percent-encoding, src/http/errors.ts). An operation's own
 * response of that status stays; its own 422 names the path parameter case in its description.
 */
function withRequestLimits(path: string, method: string, op: Schema): Schema {
  const responses: Schema = { ...op.responses }
  // A POST, PUT or PATCH that takes no body still reads one sent without a Content-Length
  // (chunked), once its token is known or its public budget counted (src/app.ts onParse,
  // guards.undeclaredBody): that 413 is counted, as a body-taking route's own 413 is. It
  // referred to the shared PayloadTooLarge, whose headers are X-Request-Id's alone.
  const counted = (Array.isArray(op.security) && op.security.length > 0) || !unlimitedRoute(path)
  if (counted && BODY_METHODS.has(method) && responses['413'] === undefined) responses['413'] = { description: 'The body is over 1 MiB.', content: { 'application/json': { schema: ref('PayloadTooLarge') } } }
  const add = (status: string, name: string, alsoOwn?: string) => {
    const own = responses[status]
    if (own === undefined) responses[status] = { $ref: `#/components/responses/${name}` }
    else if (alsoOwn && isObject(own) && own.$ref === undefined) responses[status] = { ...own, description: `${own.description ?? ''} ${alsoOwn}`.trim() }
  }
  // A Host that is not host[:port] (src/http/guards.ts, limits): any route, before it runs. Only the
  // routes with a 400 of their own said so much as a 400.
  add('400', INVALID_HOST, HOST_400)
  add('413', 'PayloadTooLarge')
  add('414', 'UriTooLong')
  if (op.requestBody !== undefined) add('415', UNSUPPORTED_CONTENT_ENCODING)
  // A path parameter with a maxLength (an id of 101 characters where 100 is the most) is the
  // validator's 422 too: it said only malformed percent-encoding.
  const bounded = Array.isArray(op.parameters) && op.parameters.some((p: Json) => isObject(p) && p.in === 'path' && isObject(p.schema) && typeof p.schema.maxLength === 'number')
  if (path.includes('{')) add('422', INVALID_PATH_PARAMETER, `Or a path parameter is not valid percent-encoding${bounded ? ' or is longer than its `maxLength`' : ''} (\`validation_failed\`, \`details\` names it).`)
  // Any route: the URL's NUL rule runs before routing (README, Request limits).
  add('422', NUL_IN_QUERY, 'Or a query parameter holds the NUL character, %00, or is not valid percent-encoding (`validation_failed`, `details` names it).')
  // Every route but liveness and the docs reads or writes the database.
  if (path !== '/api/health' && !path.startsWith('/swagger')) add('503', DATABASE_UNAVAILABLE)
  // Any other status an error comes with (a 500 too) has the same envelope: `default`, the Error
  // model (DEFAULT_ERROR_RESPONSE), which the error variants no longer refer to (errorVariant).
  add('default', ERROR_MODEL)
  return { ...op, responses: Object.fromEntries(Object.entries(responses).sort(([x], [y]) => x.localeCompare(y))) }
}

/** What withRequestLimits refers to, in `components.responses`. */
const REQUEST_LIMIT_COMPONENTS = {
  [INVALID_HOST]: { description: INVALID_HOST_400, content: { 'application/json': { schema: ref(INVALID_HOST) } } },
  PayloadTooLarge: {
    description:
      `The body is over 1 MiB, as declared (Content-Length) or as sent, or holds more than ${MAX_BODY_MEMBERS.toLocaleString('en-US')} object members (keys, in every object of a JSON body) or form fields (\`payload_too_large\`); any route answers this, also one that takes no body. A body declared over 16 MiB is refused by the HTTP server itself, before the app: a 413 without a body, and the connection closed.`,
    content: { 'application/json': { schema: ref('PayloadTooLarge') } },
  },
  UriTooLong: { description: 'The URL (path and query) is over 8 KiB (`uri_too_long`); any route answers this.', content: { 'application/json': { schema: ref('UriTooLong') } } },
  [UNSUPPORTED_CONTENT_ENCODING]: { description: UNSUPPORTED_CONTENT_ENCODING_415, content: { 'application/json': { schema: ref(UNSUPPORTED_CONTENT_ENCODING) } } },
  [INVALID_PATH_PARAMETER]: { description: INVALID_PATH_PARAMETER_422, content: { 'application/json': { schema: ref(INVALID_PATH_PARAMETER) } } },
  [NUL_IN_QUERY]: { description: NUL_IN_QUERY_422, content: { 'application/json': { schema: ref(NUL_IN_QUERY) } } },
  [DATABASE_UNAVAILABLE]: { description: DATABASE_UNAVAILABLE_503, content: { 'application/json': { schema: ref(DATABASE_UNAVAILABLE) } } },
}

/**
 * The Idempotency-Key of an authenticated POST or PATCH (src/http/idempotency.ts applies it to
 * every one): the optional header, and the 409 and 400 it can add; each once in `components`
 * (IDEMPOTENCY_COMPONENTS), referred to by each operation, or named in the operation's own 409
 * and 400 when it has them (one response per status).
 */
function withIdempotency(method: string, op: Schema): Schema {
  const withholds = op[IDEMPOTENCY_WITHHOLDS]
  if (IDEMPOTENCY_WITHHOLDS in op) {
    const { [IDEMPOTENCY_WITHHOLDS]: _, ...rest } = op
    op = rest
  }
  if ((method !== 'post' && method !== 'patch') || !Array.isArray(op.security) || op.security.length === 0) return op
  const responses: Schema = { ...op.responses }
  const add = (status: string, name: string, codes: string) => {
    const own = responses[status]
    // A 400 that was only the Host's (withRequestLimits): InvalidIdempotencyKey, which names it too.
    responses[status] = isObject(own) && own.$ref === undefined ? { ...own, description: `${own.description ?? ''} Or, with an Idempotency-Key, ${codes} (see ${name}).`.trim() } : { $ref: `#/components/responses/${name}` }
  }
  // The codes this route's retry can get: a route's own 409 named all five, where only a route
  // answering a new secret withholds it and only an execute's stream is never replayed.
  const codes = ['idempotency_conflict', 'idempotency_in_progress', 'idempotency_interrupted']
  if (withholds === 'secret') codes.push('idempotency_secret_withheld')
  if (withholds === 'stream') codes.push('idempotency_stream_started')
  add('409', IDEMPOTENCY_CONFLICT, `${codes.slice(0, -1).map((c) => `\`${c}\``).join(', ')} or \`${codes.at(-1)}\``)
  add('400', INVALID_IDEMPOTENCY_KEY, '`invalid_idempotency_key`')
  const ordered = Object.fromEntries(Object.entries(responses).sort(([x], [y]) => x.localeCompare(y)))
  return { ...op, parameters: [...(Array.isArray(op.parameters) ? op.parameters : []), { $ref: '#/components/parameters/IdempotencyKey' }], responses: ordered }
}

/**
 * A route's detail flag: what its Idempotency-Key's retry withholds instead of replaying, `secret`
 * (an answer holding a new token: 409 `idempotency_secret_withheld`) or `stream` (a streamed
 * execute: 409 `idempotency_stream_started`), as its handler's withholdFromReplay does. Read by
 * withIdempotency for the codes its 409 names; not published.
 */
export const IDEMPOTENCY_WITHHOLDS = 'x-idempotency-withholds'

/** What withIdempotency refers to, in `components`. */
const IDEMPOTENCY_COMPONENTS = {
  parameters: {
    IdempotencyKey: {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Makes a retry safe: the first successful response is stored for 24 hours for this token and key, and a retry with the same key gets it again (`Idempotency-Status: replayed`) instead of running twice. 1-255 printable ASCII characters, e.g. a UUID; only its SHA-256 is stored, and one holding a token is refused (400 `invalid_idempotency_key`).',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7E]+$' },
      // No `example`: Swagger UI fills a parameter's example into "Try it out", so every try
      // would send one fixed key, and the second POST anywhere would be 409 for 24 hours.
    },
  },
  responses: {
    [IDEMPOTENCY_CONFLICT]: { description: IDEMPOTENCY_409, content: { 'application/json': { schema: ref(IDEMPOTENCY_CONFLICT) } } },
    // Referred to where an operation has no 400 of its own, which any answers for a bad Host (withRequestLimits).
    [INVALID_IDEMPOTENCY_KEY]: { description: `${IDEMPOTENCY_400} ${HOST_400}`, content: { 'application/json': { schema: ref(INVALID_IDEMPOTENCY_KEY) } } },
  },
}

/**
 * A parameter's description on the parameter itself: the generator leaves it in the parameter's
 * schema, where Swagger UI does not show it.
 */
function withParameterDescriptions(op: Schema): Schema {
  if (!Array.isArray(op.parameters)) return op
  const parameters = op.parameters.map((p: Json) => withQueryExample(withParameterDescription(p)))
  return { ...op, parameters }
}

function withParameterDescription(p: Json): Json {
  if (!isObject(p) || p.description !== undefined || !isObject(p.schema) || typeof p.schema.description !== 'string') return p
  const { description, ...schema } = p.schema
  const { schema: _, ...parameter } = p
  return { ...parameter, description, schema }
}

/**
 * A required query parameter's example on the parameter itself: Swagger UI fills "Try it out"'s
 * field from the parameter's `example` (or its schema's 3.0 `example`), never from the schema's
 * `examples`, so the field stayed empty and Execute refused with "Required field is not
 * provided" (`GET /api/health/database-proof`, `GET /api/auth/cli/poll`). Not for an optional
 * one, which Swagger UI would then send as a filter, nor a path's id (an example id is a 404).
 */
function withQueryExample(p: Json): Json {
  if (!isObject(p) || p.in !== 'query' || p.required !== true || p.example !== undefined || p.examples !== undefined) return p
  const first = isObject(p.schema) && Array.isArray(p.schema.examples) ? p.schema.examples[0] : undefined
  return first === undefined ? p : { ...p, example: first }
}

/**
 * An error variant (`TaskNotFound`: the envelope with its own description and example) as an
 * object model of its own: the envelope's type, properties, required fields and
 * `additionalProperties: false`, each property's example taken from the variant's example (the
 * envelope's are a 401's). It was `allOf: [$ref: Error]`, which Swagger UI's model view labels
 * "(any)" (it types an unresolved `$ref` as any) and which shows a 404 model with a 401's
 * examples. The body on the wire is the envelope either way. `code`, when given, replaces the
 * `code` property (the 401's enum of codes).
 */
function errorVariant(envelope: Schema, variant: Schema, code?: Schema): Schema {
  const { description, examples, example } = variant
  const sample: Json = Array.isArray(examples) ? examples[0] : example
  const properties = Object.fromEntries(
    Object.entries<Json>(envelope.properties ?? {}).map(([key, p]) => {
      const { examples: _, example: _e, ...own } = isObject(p) ? p : {}
      const value = isObject(sample) && key in sample ? sample[key] : undefined
      const merged = key === 'code' && code ? { ...own, ...code } : own
      // A constant (`error: true`) says its one value already.
      return [key, value === undefined || 'const' in merged ? merged : { ...merged, examples: [value] }]
    }),
  )
  const { description: _d, examples: _x, example: _y, title: _t, ...rest } = envelope
  return {
    ...(description !== undefined && { description }),
    ...rest,
    properties,
    ...(examples !== undefined && { examples }),
    ...(example !== undefined && { example }),
  }
}

/** The 401 codes, each said once (the Unauthorized model's `code`). */
const UNAUTHORIZED_CODES =
  'Which way authentication failed: `missing_token` (no Authorization header), `missing_bearer_scheme` / `unsupported_auth_scheme` (not "Bearer …"), `empty_bearer_token`, `authorization_header_too_large`, `malformed_token` (not a td_ token, two Authorization headers, or "Bearer Bearer td_…": `details.reason`), `invalid_token_checksum` (a mistyped token), `invalid_token` (not one this server issued), `token_expired`, `token_revoked`, `membership_revoked` (its user is no longer a member of the token\'s organization).'

/** The 401's `code`: every code authentication answers (src/errors.ts, the codes of status 401). */
const UNAUTHORIZED_CODE: Schema = {
  type: 'string',
  enum: Object.entries(ERROR_STATUS)
    .filter(([, status]) => status === 401)
    .map(([code]) => code),
  description: UNAUTHORIZED_CODES,
}

/** What a request body's description says of fields the operation does not name (src/http/body.ts). */
export const OTHER_FIELDS_IGNORED = 'Fields it does not name are ignored, as by TeamDay\'s API; a misspelt one (`priorty`) is 422. The same fields are read from a form (`application/x-www-form-urlencoded`: a list as a repeated field, an object as `field[KEY]=value`). A token (`td_…`, or a `tdo_`/`tdr_`/`tdc_` secret) in any field or key is 422 `validation_failed` naming the field, nothing stored: only the fields made to receive a secret (a secret\'s value, a leak report\'s `credentials`, a `refreshToken`) take one; give an agent a token as a space secret.'

/** A route's `detail` flag: its body may be left out (the published document says `required: false`). */
const OPTIONAL_BODY = 'x-optional-body'

/**
 * A request body's object schema says what the server does with other fields: it ignores them
 * (drops them before the route sees the body). Elysia's `additionalProperties: false` on the
 * body's top level (app.ts settleSchemas) said "not allowed": a gateway validating requests
 * against this document refused the TeamDay CLI's bodies the server takes.
 */
function withOpenRequestBody(op: Schema): Schema {
  if (!isObject(op.requestBody) || !isObject(op.requestBody.content)) return op
  // A body the route takes as optional (`t.Optional`): the generator marks every body required.
  if (op[OPTIONAL_BODY] === true) {
    const { [OPTIONAL_BODY]: _, ...rest } = op
    op = { ...rest, requestBody: { ...op.requestBody, required: false } }
  }
  // JSON only: the generator also listed a form type for every body, which Swagger UI then
  // offered and filled wrongly (lists comma-joined, objects as a JSON string, every optional field
  // sent with a sample); the server still reads forms (README, Request bodies), said in words.
  const content = Object.fromEntries(
    Object.entries(op.requestBody.content).filter(([type]) => type === 'application/json').map(([type, media]) => {
      if (!isObject(media) || !isObject(media.schema) || media.schema.additionalProperties !== false) return [type, media]
      const { additionalProperties: _, ...schema } = media.schema
      return [type, { ...media, schema }]
    }),
  )
  const said = typeof op.requestBody.description === 'string' ? op.requestBody.description : ''
  return { ...op, requestBody: { ...op.requestBody, content, description: said ? `${said} ${OTHER_FIELDS_IGNORED}` : OTHER_FIELDS_IGNORED } }
}

/** Every schema in an operation: parameters, request bodies, responses and their headers. */
function mapOperationSchemas(op: Schema, fn: (s: Json) => Json): Schema {
  const content = (c: Json) => (isObject(c) ? Object.fromEntries(Object.entries(c).map(([type, media]) => [type, isObject(media) && media.schema ? { ...media, schema: fn(media.schema) } : media])) : c)
  const out: Schema = { ...op }
  if (Array.isArray(op.parameters)) out.parameters = op.parameters.map((p: Json) => (isObject(p) && p.schema ? { ...p, schema: fn(p.schema) } : p))
  if (isObject(op.requestBody)) out.requestBody = { ...op.requestBody, content: content(op.requestBody.content) }
  if (isObject(op.responses))
    out.responses = Object.fromEntries(
      Object.entries(op.responses).map(([status, res]) => {
        if (!isObject(res)) return [status, res]
        const r: Schema = { ...res }
        if (res.content) r.content = content(res.content)
        if (isObject(res.headers)) r.headers = Object.fromEntries(Object.entries(res.headers).map(([h, v]) => [h, isObject(v) && v.schema ? { ...v, schema: fn(v.schema) } : v]))
        return [status, r]
      }),
    )
  return out
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

function mapAllSchemas(doc: Json, fn: (s: Json, name?: string) => Json): Json {
  const schemas: Schema = doc.components?.schemas ?? {}
  const paths = Object.fromEntries(
    Object.entries(doc.paths ?? {}).map(([path, item]) => [
      path,
      Object.fromEntries(Object.entries(item as Schema).map(([m, op]) => [m, METHODS.has(m) && isObject(op) ? mapOperationSchemas(op, (s) => fn(s)) : op])),
    ]),
  )
  const components = { ...doc.components, schemas: Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, fn(s, name)])) }
  return { ...doc, paths, components }
}

/** The name of the error envelope model: each error variant is its shape (errorVariant); `default` responses refer to it. */
export const ERROR_MODEL = 'Error'

/** Every operation's `default` response (withRequestLimits), in `components.responses`. */
const DEFAULT_ERROR_RESPONSE = {
  description: 'Any other error: every error this server answers, whatever its status, has this JSON envelope; `code` says which error it is.',
  content: { 'application/json': { schema: ref(ERROR_MODEL) } },
}

/**
 * The headers the server sends beside a response's body, each described once in
 * `components.headers` and referred to by the responses that carry it (withStandardHeaders), so
 * that generated clients see them too. Names as Swagger UI and generators show them.
 */
const STANDARD_HEADERS: Record<string, Schema> = {
  'X-Request-Id': {
    description: "The request's id (`req_…`), also in the access log and in an error's `requestId`; a client's own `X-Request-Id` of 1-64 letters, digits, `.`, `_`, `-` or `:` is kept instead, unless it holds a token (it is then replaced, never echoed).",
    // On every answer (guards.head): required, so a generated client may count on it.
    required: true,
    schema: { type: 'string' },
    example: 'req_dnVmljNkiF3TPgjOJo4W',
  },
  'X-RateLimit-Limit': {
    description: 'Requests allowed in the window of the budget with the least left (per token, per user or, on a public route, per client address). On every answer counted against a budget (after authentication or, on a public route, once its address is counted; errors too: declared on each operation\'s successes, its own 4xx, an authenticated one\'s own 5xx and its 429); absent when rate limits are off (`TEAMDAY_RATE_LIMIT=off`).',
    schema: { type: 'integer' },
    example: 1200,
  },
  'X-RateLimit-Remaining': { description: 'Requests left in that window.', schema: { type: 'integer' }, example: 1198 },
  'X-RateLimit-Reset': { description: 'When that window ends, in Unix seconds.', schema: { type: 'integer' }, example: 1796310282 },
  'RateLimit-Policy': {
    description: 'Every budget this request counted against (draft-ietf-httpapi-ratelimit-headers): `"default"` (the token, or the client address on a public route) and `"user"` (all of the user\'s tokens together), each with its quota `q` and window `w` in seconds.',
    schema: { type: 'string' },
    example: '"default";q=1200;w=60, "user";q=3600;w=60',
  },
  RateLimit: {
    description: 'What is left of each budget of RateLimit-Policy: `r` requests, for `t` more seconds.',
    schema: { type: 'string' },
    example: '"default";r=1198;t=42, "user";r=3596;t=42',
  },
  'Teamday-Token-Expiration': {
    description: 'When the token that authenticated the request stops working: its expiry or, for a token rotated with a grace period, the end of that period. On every answer after authentication (errors too: declared on each operation\'s successes, its own 4xx and its 429), so scripts can warn ahead of time; on the answer of a request that rotated its own token with a grace period, the end of that period, and none on one that revoked its own token or rotated it without a grace period (it has stopped).',
    schema: { type: 'string', format: 'date-time' },
    example: '2027-03-03T15:00:00.000Z',
  },
  // Declared on 429 and 503 only: every 429 names its wait, and a 503 without one gets 5 (src/http/errors.ts).
  'Retry-After': { description: 'Seconds to wait before trying again.', required: true, schema: { type: 'integer' }, example: 42 },
  'Accept-Encoding': {
    description: 'On a 415 for a compressed body: `identity`, the one coding this server reads request bodies in (RFC 7694).',
    schema: { type: 'string', enum: ['identity'] },
    example: 'identity',
  },
  Location: {
    description: 'Where the resource this request created is read (RFC 9110 §15.3.2): its GET route, as an absolute path (`/api/v1/agents/char_…`; with TEAMDAY_PUBLIC_URL\'s path before it when the server is hosted under one: `/teamday/api/v1/agents/char_…`). On every 201 Created, a replayed one too; and on an async execute\'s 202 Accepted, the execution to poll (`/api/v1/executions/exec_…`).',
    // Declared on 201 and an execute's 202 only, each of which sends it.
    required: true,
    schema: { type: 'string', format: 'uri-reference' },
    example: '/api/v1/agents/char_9Tr4Kx2LmQ7vB1nZ8wYc',
  },
  'WWW-Authenticate': {
    description: 'The Bearer challenge (RFC 6750): `error="invalid_token"` with a description when a token was sent and refused, none when no token was sent; on 403, only for `insufficient_scope` (with the `scope` needed).',
    schema: { type: 'string' },
    example: 'Bearer realm="teamday", error="invalid_token", error_description="Token revoked"',
  },
  'Idempotency-Status': {
    description: '`replayed` when this is the stored response of an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['replayed'] },
    example: 'replayed',
  },
}

/** `res` with references to the named STANDARD_HEADERS added to its own headers (a reference to a shared response stays as it is). */
function withHeaders(res: Json, names: string[]): Json {
  if (!isObject(res) || res.$ref !== undefined) return res
  const headers: Schema = { ...res.headers }
  for (const name of names) headers[name] ??= { $ref: `#/components/headers/${name}` }
  return { ...res, headers }
}

/**
 * A route's detail flag (`[ENDS_CALLING_TOKEN]: true`): its success always ends the token that
 * sent it, so that answer has no Teamday-Token-Expiration (withStandardHeaders); not published.
 */
export const ENDS_CALLING_TOKEN = 'x-ends-calling-token'

/** The methods whose body the server reads (src/http/guards.ts). */
const BODY_METHODS = new Set(['post', 'put', 'patch'])

const RATE_LIMIT_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit']

/**
 * The standard headers of each of an operation's own responses, as the server sends them: every
 * response has X-Request-Id (src/http/guards.ts); the rate-limit headers come with every answer
 * counted against a budget (src/http/ratelimit.ts: an authenticated route's once its token is
 * known, a public route's but for the health checks and the docs, which are not limited: unlimitedRoute) and
 * are documented on its successes, its own 4xx (through the shared error responses of
 * `components.responses`) and its 429; Teamday-Token-Expiration likewise on an
 * authenticated route's (src/auth/plugin.ts);
 * WWW-Authenticate on 401 and 403; Retry-After on 429 and 503; Location on 201 (src/http/context.ts,
 * created; an execute's 202 declares its own: `accepted`); Idempotency-Status on the success
 * of an authenticated POST or PATCH (src/http/idempotency.ts). The shared responses (413, 414,
 * 415, 503…) are answered before anything is counted: they get X-Request-Id (and 503 Retry-After)
 * in `components` (publishDocument).
 */
function withStandardHeaders(path: string, method: string, op: Schema): Schema {
  if (!isObject(op.responses)) return op
  // A route whose success always ends the calling token (DELETE /tokens/self) sends no
  // Teamday-Token-Expiration with it (src/auth/plugin.ts, calledTokenChanged): it said it did.
  const endsCaller = op[ENDS_CALLING_TOKEN] === true
  if (ENDS_CALLING_TOKEN in op) {
    const { [ENDS_CALLING_TOKEN]: _, ...rest } = op
    op = rest
  }
  const authenticated = Array.isArray(op.security) && op.security.length > 0
  const limited = authenticated || !unlimitedRoute(path)
  const idempotent = authenticated && (method === 'post' || method === 'patch')
  const responses: Schema = {}
  for (const [status, res] of Object.entries(op.responses)) {
    // An authenticated operation's 429 is the one shared response (RATE_LIMITED_RESPONSE).
    if (authenticated && status === '429' && isObject(res) && res.content?.['application/json']?.schema?.$ref === `#/components/schemas/${RATE_LIMITED}`) {
      responses[status] = { $ref: `#/components/responses/${RATE_LIMITED}` }
      continue
    }
    // And its 401, the same for every operation (UNAUTHORIZED_RESPONSE).
    if (authenticated && status === '401' && isObject(res) && res.content?.['application/json']?.schema?.$ref === `#/components/schemas/${UNAUTHORIZED}`) {
      responses[status] = { $ref: `#/components/responses/${UNAUTHORIZED}` }
      continue
    }
    const names = ['X-Request-Id']
    // Every answer counted against a budget: a success, a 429, and an authenticated operation's
    // own 4xx (given once the token is known and counted: a 403, 404, 409, 422…); an error shared
    // by several operations is one response in `components` (sharedErrorResponses).
    // An authenticated operation's own 5xx (an execute's 501, 502, 504: the provider's failure,
    // known once the run is over) is counted too: it said only X-Request-Id.
    // A public route's own 4xx too: its per-address budget is counted before its body is read
    // (src/app.ts onParse; ipLimit), so a refused body or login code carries the headers.
    const counted = limited && (status.startsWith('2') || status.startsWith('4') || (authenticated && status.startsWith('5')))
    if (counted) names.push(...RATE_LIMIT_HEADERS)
    if (authenticated && counted && !(endsCaller && status.startsWith('2'))) names.push('Teamday-Token-Expiration')
    if (status === '401' || (authenticated && status === '403')) names.push('WWW-Authenticate')
    if (status === '429' || status === '503') names.push('Retry-After')
    if (status === '201') names.push('Location')
    if (idempotent && status.startsWith('2')) names.push('Idempotency-Status')
    responses[status] = withHeaders(res, names)
  }
  return { ...op, responses }
}

/**
 * An error response that several operations answer alike (a role's 403, a bad cursor's 400),
 * with the rate-limit headers it carries, once in `components.responses` and referred to by each:
 * written out in each, the headers alone were some 90 KB of the document. Named after its
 * model (the 404's of one, the second of a name with its status after it).
 */
function sharedErrorResponses(paths: Schema, components: Schema): void {
  const uses = new Map<string, number>()
  const operations = Object.values(paths).flatMap((item) => Object.entries(item as Schema).filter(([m, op]) => METHODS.has(m) && isObject(op)).map(([, op]) => op as Schema))
  const shared = (status: string, res: unknown): res is Schema => !status.startsWith('2') && isObject(res) && res.$ref === undefined && isObject(res.headers) && 'X-RateLimit-Limit' in res.headers
  for (const op of operations) for (const [status, res] of Object.entries(op.responses ?? {})) if (shared(status, res)) uses.set(JSON.stringify(res), (uses.get(JSON.stringify(res)) ?? 0) + 1)
  const names = new Map<string, string>()
  for (const op of operations) {
    for (const [status, res] of Object.entries(op.responses ?? {})) {
      if (!shared(status, res)) continue
      const key = JSON.stringify(res)
      if ((uses.get(key) ?? 0) < 2) continue
      let name = names.get(key)
      if (name === undefined) {
        const model = String(res.content?.['application/json']?.schema?.$ref ?? '').split('/').pop() || `Error${status}`
        name = model in components ? `${model}${status}` : model
        for (let n = 2; name in components; n++) name = `${model}${status}_${n}`
        components[name] = res
        names.set(key, name)
      }
      op.responses[status] = { $ref: `#/components/responses/${name}` }
    }
  }
}

/** The model of an authenticated operation's 429 (src/modules/shared-models.ts, authErrors). */
const RATE_LIMITED = 'RateLimited'
/** The model of an authenticated operation's 401 (src/modules/shared-models.ts, authErrors). */
const UNAUTHORIZED = 'Unauthorized'

/**
 * An authenticated operation's 401, once in `components.responses` and referred to by each, as its
 * 429 (rateLimitedResponse): the same description and headers were written out in some fifty
 * operations (8 KB of the document).
 */
function unauthorizedResponse(schemas: Schema): Schema | undefined {
  const model = schemas[UNAUTHORIZED]
  if (!isObject(model) || typeof model.description !== 'string') return undefined
  return withHeaders({ description: model.description, content: { 'application/json': { schema: ref(UNAUTHORIZED) } } }, ['X-Request-Id', 'WWW-Authenticate'])
}

/**
 * An authenticated operation's 429, once in `components.responses` and referred to by each: its
 * description (the model's: the two reasons, a budget spent or the address's failed
 * authentications) said once rather than in each of some fifty operations, with every header
 * either kind sends.
 */
function rateLimitedResponse(schemas: Schema): Schema | undefined {
  const model = schemas[RATE_LIMITED]
  if (!isObject(model) || typeof model.description !== 'string') return undefined
  return withHeaders(
    { description: model.description, content: { 'application/json': { schema: ref(RATE_LIMITED) } } },
    ['X-Request-Id', ...RATE_LIMIT_HEADERS, 'Teamday-Token-Expiration', 'Retry-After'],
  )
}

/**
 * An operationId as code generators take it: a camelCase identifier (letters and digits, a
 * lower-case letter first). The generator makes one from the method and the path, and a path
 * segment with a hyphen (`/audit-events`) gave `getApiV1Audit-events`, which a generator turns
 * into an invalid method name or renames in its own way. Each run of other characters is dropped
 * and the letter after it capitalised (`getApiV1AuditEvents`); an id that is one already is kept
 * as it is, so the ids (and Swagger UI's deep links, `#/Tokens/postApiV1Tokens`) stay.
 */
export function camelOperationId(id: string): string {
  const parts = id.split(/[^A-Za-z0-9]+/).filter((part) => part !== '')
  // An identifier starts with a letter: a leading digit (or nothing at all) gets `operation` before it.
  if (!/^[A-Za-z]/.test(parts[0] ?? '')) parts.unshift('operation')
  const [first = '', ...rest] = parts
  return first.charAt(0).toLowerCase() + first.slice(1) + rest.map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('')
}

function withOperationId(op: Schema): Schema {
  return typeof op.operationId === 'string' ? { ...op, operationId: camelOperationId(op.operationId) } : op
}

/**
 * The published document. `servers` goes right after `info` (first in the file where a reader
 * looks for it).
 */
export function publishDocument(generated: Json, servers: { url: string; description?: string }[]): Json {
  let doc = mapAllSchemas(generated, (s) => publishSchema(s))
  doc.paths = Object.fromEntries(
    Object.entries(doc.paths).map(([path, item]) => [
      path,
      Object.fromEntries(
        Object.entries(item as Schema).map(([m, op]) => [m, METHODS.has(m) && isObject(op) ? withStandardHeaders(path, m, withIdempotency(m, withRequestLimits(path, m, withParameterDescriptions(withOpenRequestBody(withResponseDescriptions(withResponseContent(withResponseHeaders(withOperationId(op))))))))) : op]),
      ),
    ]),
  )
  const schemas: Schema = doc.components.schemas
  // Error variants (TaskNotFound…): the envelope's own object schema, with their description and
  // example (errorVariant). The 401 also names every code authentication answers.
  const envelope = schemas[ERROR_MODEL]
  if (isObject(envelope)) {
    const shape = (s: Schema) => {
      const { description, examples, example, title, ...rest } = s
      return modelKey(rest)
    }
    const envelopeShape = shape(envelope)
    for (const [name, s] of Object.entries(schemas)) {
      if (name === ERROR_MODEL || !isObject(s) || shape(s) !== envelopeShape) continue
      schemas[name] = errorVariant(envelope, s, name === 'Unauthorized' ? UNAUTHORIZED_CODE : undefined)
    }
  }
  // Models embedded in other schemas: by reference.
  const models = new Map<string, string>()
  for (const [name, s] of Object.entries(schemas)) {
    if (!isObject(s)) continue
    const key = modelKey(s)
    if (!models.has(key)) models.set(key, name)
  }
  doc = mapAllSchemas(doc, (s, name) => refModels(s, models, name, name !== undefined))
  doc.components.schemas = withTypedRootItems(doc.components.schemas)
  const responses: Schema = { ...doc.components.responses, ...REQUEST_LIMIT_COMPONENTS, ...IDEMPOTENCY_COMPONENTS.responses, [ERROR_MODEL]: DEFAULT_ERROR_RESPONSE }
  // An Idempotency-Key's 400 and 409 come after authentication (the key is the token's: src/http/idempotency.ts),
  // and a compressed body's 415 once the body is read (src/http/body.ts: after authentication, or
  // a public route's per-address count), counted like the operation's own 4xx: they said only X-Request-Id.
  const counted = new Set<string>([...Object.keys(IDEMPOTENCY_COMPONENTS.responses), UNSUPPORTED_CONTENT_ENCODING])
  // The database's 503 comes before anything is counted, or after (a write failing once the token
  // is known and counted): the rate-limit headers when it does; it declared X-Request-Id and Retry-After.
  const headersOf = (name: string) =>
    name === DATABASE_UNAVAILABLE
      ? ['X-Request-Id', 'Retry-After', ...RATE_LIMIT_HEADERS, 'Teamday-Token-Expiration']
      : counted.has(name)
        ? ['X-Request-Id', ...RATE_LIMIT_HEADERS, 'Teamday-Token-Expiration', ...(name === UNSUPPORTED_CONTENT_ENCODING ? ['Accept-Encoding'] : [])]
        : ['X-Request-Id']
  for (const [name, res] of Object.entries(responses)) responses[name] = withHeaders(res, headersOf(name))
  const rateLimited = rateLimitedResponse(doc.components.schemas)
  if (rateLimited) responses[RATE_LIMITED] = rateLimited
  const unauthorized = unauthorizedResponse(doc.components.schemas)
  if (unauthorized) responses[UNAUTHORIZED] = unauthorized
  sharedErrorResponses(doc.paths, responses)
  doc.components = { ...doc.components, parameters: { ...doc.components.parameters, ...IDEMPOTENCY_COMPONENTS.parameters }, responses, headers: STANDARD_HEADERS }
  const { openapi, info, ...rest } = doc
  return { openapi, info, servers, ...rest }
}
