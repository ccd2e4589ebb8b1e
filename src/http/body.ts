import { parseQuery } from 'elysia/parse-query'
import { AppError, invalidField } from '../errors'
import { nearestField } from './body-fields'
import { secretNamesFirst, secretRefusal, takeSecretsOutOfForm } from './secret-fields'
import { unreadableForm } from './page-form'
import { firstUndecodablePair } from './url-path'
import { firstBadText, firstDuplicateKey, firstInexactLiteral, hasLoneSurrogate, JSON_INEXACT_NUMBER, numberPath, JSON_TOO_DEEP, jsonHasNul, jsonMayHaveSurrogate, MAX_BODY_MEMBERS, MAX_JSON_DEPTH, parsedMemberCount, scanJson } from '../json-limits'
import { clipped } from '../text'
import { bodyChunkKept } from './incoming-bodies'
import { bodyArrived } from './listen'

/** A top-level array field's longest list (its schema's `maxItems`, else MAX_LIST_ITEMS) and the 422 message past it (src/http/routes.ts, listLimits). */
export interface ListLimit {
  field: string
  max: number
  message: (length: number) => string
}

/** How a route takes a body: none declared, optional (may be absent) or required. */
export type BodyRule = 'none' | 'optional' | 'required'

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json$/

function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
}

/**
 * A body's bytes as text, strictly: a byte sequence that is not UTF-8 throws. `request.text()`
 * put U+FFFD in its place, so a Latin-1 `é` was stored as `\uFFFD`, lost for good.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true })

function invalidJson(hint = ''): AppError {
  return new AppError('invalid_json', `Invalid JSON in request body${hint}: send a valid JSON object with Content-Type: application/json.`)
}

/**
 * Why a JSON body that could not be read may be in another encoding than UTF-8, the only one
 * JSON has (RFC 8259 §8.1), as the start of a sentence; '' when nothing says so. A charset its
 * Content-Type declares (`charset=UTF-16`) is not read (a body in UTF-8 or ASCII is taken
 * whatever the label says), and UTF-16 text is UTF-8 with a NUL byte before or after each ASCII
 * character: its refusal said only "Invalid JSON".
 */
function otherEncoding(request: Request, text?: string): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]{1,40})/i.exec(request.headers.get('content-type') ?? '')?.[1]
  if (charset !== undefined && !/^(utf-?8|us-ascii)$/i.test(charset)) return ` (its Content-Type declares charset=${charset}; JSON is read as UTF-8 only)`
  if (text !== undefined && (text.charCodeAt(0) === 0 || text.charCodeAt(1) === 0)) return ' (it looks like UTF-16: JSON is read as UTF-8 only)'
  return ''
}

function notAnObject(type: string): AppError {
  const message = 'body must be a JSON object'
  const sent = JSON_TYPE.test(type) ? '' : ` (the body was sent ${type ? `as ${type}` : 'without a Content-Type'}; send a JSON object with Content-Type: application/json)`
  return new AppError('validation_failed', `Validation failed: ${message}${sent}`, { details: [{ field: 'body', message }] })
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Reads a request body for a route, in place of Elysia's parsers (which swallow invalid JSON on
 * optional bodies and turn `[]`, `123`, `null` or a text body into an empty object):
 * - a route that declares no body ignores what was sent (never read): `{}`;
 * - nothing sent (no body, or an empty one of any type): `{}`, for validation to judge (a body
 *   whose fields are all optional: 422, readBody);
 * - JSON: nesting over 32 levels → 400 `json_too_deep` (checked on the text, before parsing),
 *   invalid → 400 `invalid_json`, empty → as nothing sent, anything but an object → 422;
 * - the NUL character (U+0000) anywhere in a JSON or form body → 422: PostgreSQL cannot store it;
 * - a lone surrogate escape (`\ud800` without its pair) in a JSON string or key → 422: PostgreSQL's
 *   jsonb refuses it and its text would keep U+FFFD instead;
 * - a Content-Encoding other than identity (a gzip body, or one merely labelled so) → 415
 *   `unsupported_media_type`: bodies are read as sent, never decompressed;
 * - bytes that are not UTF-8 → 400 `invalid_json` (JSON is UTF-8, RFC 8259), 422 for a form;
 * - a number that does not come back as sent (`1e309`, read as Infinity; an integer beyond
 *   ±(2^53 - 1), which loses digits) anywhere in a JSON body → 422 naming its path;
 * - a field the route's schema declares as an object (`objects`: paths of property names) that
 *   holds anything else → 422 saying so, before Elysia's clean-up: that (exact-mirror, the
 *   app's `normalize`) runs before validation and rebuilds a record from `Object.keys` of
 *   whatever is there, so `"secrets":"AB"` became `{"0":"A","1":"B"}` (a 1 MB string, a
 *   million keys: seconds) and a number `{}`, which then passed validation;
 * - a token (`td_…`, `tdo_…`, …) in any string or key but the route's fields designed to receive
 *   one → 422 naming the field, nothing stored (src/http/secret-fields.ts); a console page's form
 *   has the field taken out instead, for the page to refuse and show again;
 * - a body one of the rules above refuses that holds, in a record of secret values (`secrets` of
 *   the routes that set them), a key that is not a secret name → the 422 telling that key by its
 *   position (secretNamesFirst): each of those rules names a field by its path (`secrets.sk-live-…`),
 *   and such a key is often a value pasted as a name. A body refused by no rule of the reader's or
 *   the validator's leaves bad names to the service, after the access checks;
 * - form-urlencoded: Elysia's own form parser, then the route's arrays, booleans and objects as
 *   JSON has them (formFields);
 * - any other type → 422 `validation_failed` saying to send JSON; to a console page's form, a body
 *   that says so (src/http/page-form.ts), for the page to show its form again with the message.
 */
export async function readBody(request: Request, rule: BodyRule, shape: BodyShape = {}): Promise<object> {
  const read = await readAny(request, rule, shape)
  // Nothing sent to a route whose body must say something (the PATCHes, all of whose fields are
  // optional): 422, as empty JSON is a 400 there; it was a 200 that changed nothing.
  if (read === NOTHING && rule === 'required' && shape.fields) throw bodyRequired(shape.fields)
  const body = read === NOTHING ? {} : read
  if (shape.fields) refuseNearMisses(body as Record<string, unknown>, shape.fields)
  for (const { field, max, message } of shape.listLimits ?? []) {
    const v = (body as Record<string, unknown>)[field]
    if (Array.isArray(v) && v.length > max) throw invalidField(field, message(v.length))
  }
  for (const path of shape.objects ?? []) {
    const v = valueAt(body, path)
    if (v !== undefined && !isPlainObject(v)) throw notAnObjectField(path.join('.'), v)
  }
  return body
}

/** What the body reader knows of a route's body schema (src/http/routes.ts). */
export interface BodyShape {
  /** Fields that are objects, as paths of property names, parents first. */
  objects?: readonly (readonly string[])[]
  /** The top-level fields it declares (when it declares some). */
  fields?: readonly string[]
  /** Of those, the arrays. */
  arrays?: readonly string[]
  /** Of those, the booleans. */
  booleans?: readonly string[]
  /** Of those, the arrays' longest lists (src/http/routes.ts): a longer one is 422 before validation walks it. */
  listLimits?: readonly ListLimit[]
  /** The fields that may hold a token (src/http/secret-fields.ts); any other holding one is refused. */
  secretFields?: readonly (readonly string[])[]
  /** A console page's form: a field holding a token is taken out, for the page to refuse (takeSecretsOutOfForm). */
  pageForm?: boolean
}

/**
 * A field the route does not take is ignored (TeamDay's API ignores it, and its CLI sends some),
 * unless it is a near miss of one it takes (src/http/body-fields.ts): 422 naming both.
 */
function refuseNearMisses(body: Record<string, unknown>, fields: readonly string[]): void {
  for (const name of Object.keys(body)) {
    if (fields.includes(name)) continue
    const meant = nearestField(name, fields)
    if (meant === null) continue
    const shown = clipped(name, 60, '…')
    const message = `unknown field "${shown}" (did you mean ${meant}?): this route takes ${fields.join(', ')}; a field it does not take is ignored, and this one looks like a misspelt ${meant}`
    throw invalidField(shown, message)
  }
}

/**
 * A form's fields as JSON has them (a form gives flat strings, repeated names as arrays):
 * - a field declared as an array may be sent once (`scopes=a`, which the form parser gives as a
 *   string: it was refused as "must be an array") or with the brackets PHP and Rails forms use
 *   (`scopes[]=a&scopes[]=b`, which was ignored);
 * - a boolean as `true`/`false`, `1`/`0` or a checkbox's `on`/`off` (any case): every one was
 *   refused as "must be a boolean", so `async`, `stream` and `archived` could not be sent;
 * - an object field (a task's `metadata`, `secrets`) as `metadata[key]=value`, one level, string
 *   values (any other field so given is refused by validation, as not an object): such fields were dropped without a word (`metadata[a]=1` answered 201 with `{}`) or
 *   refused as unknown. A deeper bracket (`metadata[a][b]`) is refused: send JSON for that.
 */
/**
 * A form's names and values must be percent-encoded as sent: `a%ZZ` or `%FF` (not UTF-8) was
 * stored as it came, where the same in a path or query is refused.
 */
function refuseBadEscapes(form: string): void {
  if (!form.includes('%')) return
  const bad = firstUndecodablePair(form)
  if (bad === null) return
  const shown = clipped(bad.name, 60, '…')
  throw invalidField(shown || 'body', `${shown || 'the form'}: not valid percent-encoding (a % must start %XX, and the bytes must be UTF-8)`)
}

function formFields(form: Record<string, unknown>, shape: BodyShape): Record<string, unknown> {
  // A field given twice that is not a list: refused as a repeated query parameter is (it was
  // "title is required", the repeated value being a list).
  for (const name of shape.fields ?? []) {
    if (Array.isArray(form[name]) && !shape.arrays?.includes(name)) throw invalidField(name, `${name} was given more than once: give it once (a repeated field is a list only for the fields that are lists)`)
  }
  for (const name of shape.arrays ?? []) {
    const bracketed = form[`${name}[]`]
    if (bracketed !== undefined) {
      const before = form[name]
      form[name] = [...(before === undefined ? [] : [before].flat()), ...[bracketed].flat()]
      delete form[`${name}[]`]
    }
    if (typeof form[name] === 'string') form[name] = [form[name]]
  }
  for (const name of shape.booleans ?? []) {
    const v = form[name]
    if (typeof v !== 'string') continue
    const lower = v.trim().toLowerCase()
    if (FORM_TRUE.has(lower)) form[name] = true
    else if (FORM_FALSE.has(lower)) form[name] = false
  }
  // Any other field the route takes (a task's metadata is declared as any JSON, which the service
  // checks): what is not an object is then refused by the route's validation, naming it.
  const objects = (shape.fields ?? []).filter((f) => !shape.arrays?.includes(f))
  if (objects.length === 0) return form
  for (const key of Object.keys(form)) {
    const open = key.indexOf('[')
    if (open <= 0) continue
    const name = key.slice(0, open)
    if (!objects.includes(name)) continue
    if (key.slice(open) === '[]') throw formNotAList(name, key)
    const inner = /^\[([^\[\]]+)\]$/.exec(key.slice(open))
    if (inner === null) throw formNestingRefused(key)
    if (form[name] !== undefined && !isPlainObject(form[name])) throw formObjectTwice(name)
    const object = (form[name] ??= {}) as Record<string, unknown>
    const entry = inner[1]!
    if (entry === '__proto__') throw protoKeyRefused()
    object[entry] = form[key]
    delete form[key]
  }
  return form
}

const FORM_TRUE = new Set(['true', '1', 'on'])
const FORM_FALSE = new Set(['false', '0', 'off'])

function formNestingRefused(key: string): AppError {
  const shown = clipped(key, 60, '…')
  const message = `${shown}: a form gives an object's fields one level deep, as name[key]=value; send a JSON object with Content-Type: application/json for anything deeper`
  return invalidField(shown, message)
}

function formNotAList(name: string, key: string): AppError {
  const message = `${name} takes one value, not a list (${key} was sent)`
  return invalidField(name, message)
}

function formObjectTwice(name: string): AppError {
  const message = `${name} was sent both whole and as ${name}[key] fields: send one or the other`
  return invalidField(name, message)
}

/** The value at a path of property names, or undefined when a step is missing or not an object. */
function valueAt(body: object, path: readonly string[]): unknown {
  let v: unknown = body
  for (const name of path) {
    if (!isPlainObject(v) || !Object.hasOwn(v, name)) return undefined
    v = v[name]
  }
  return v
}

/** A body of more than MAX_BODY_MEMBERS keys or fields: 413, before it is parsed. */
function tooManyMembers(count: number, what: string): AppError {
  return new AppError('payload_too_large', `Request body too large: it may hold at most ${MAX_BODY_MEMBERS} ${what}, and this one has ${count}.`)
}

function notAnObjectField(field: string, v: unknown): AppError {
  const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? 'a string' : typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : typeof v
  const message = `${field} must be an object (got ${got})`
  return invalidField(field, message)
}

async function readAny(request: Request, rule: BodyRule, shape: BodyShape): Promise<object> {
  if (rule === 'none') return {}
  const type = mediaType(request)
  const json = JSON_TYPE.test(type)
  if (request.body === null) return empty()
  const coding = contentCoding(request)
  if (coding !== null) throw encodingRefused(coding)
  if (type === 'application/x-www-form-urlencoded') {
    const form = await bodyText(request, notUtf8Form)
    // A secret's name failing the rule is told by its position, not named by these refusals
    // (as for JSON: secretNamesFirst), whose field is the form's name `secrets[sk-live-…]`.
    const namesFirst = (e: unknown) => {
      if (!shape.secretFields?.length) return e
      try {
        return secretNamesFirst(formFields(parseQuery(form) as Record<string, unknown>, shape), shape.secretFields) ?? e
      } catch {
        return e
      }
    }
    if (form.includes('%00') || form.includes('\0')) throw namesFirst(nulRefused(nulInForm(form)))
    if (form.trim() === '') return NOTHING
    let fieldCount = 1
    for (let i = form.indexOf('&'); i >= 0; i = form.indexOf('&', i + 1)) fieldCount++
    if (fieldCount > MAX_BODY_MEMBERS) throw tooManyMembers(fieldCount, 'fields')
    try {
      refuseBadEscapes(form)
    } catch (e) {
      throw namesFirst(e)
    }
    const fields = parseQuery(form) as Record<string, unknown>
    // `&`, `=`, `&&`: separators and no name, a form that says nothing (as an empty one).
    if (Object.keys(fields).every((k) => k === '')) return NOTHING
    const read = formFields(fields, shape)
    if (shape.pageForm) {
      takeSecretsOutOfForm(read, shape.secretFields ?? [])
      return read
    }
    const secret = secretRefusal(read, shape.secretFields ?? [])
    if (secret) throw secret
    return read
  }
  if (!json) {
    // No body (nothing, or only whitespace, however it was framed: a chunked body of no bytes
    // is not `null` as one of Content-Length 0 is), whatever its type: as nothing sent.
    let bytes: Uint8Array
    try {
      bytes = await readBytes(request)
    } catch (e) {
      throw abortedBody(e)
    }
    if (bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return empty()
    // A console page's form sent as multipart/form-data (or text/plain): the page refuses it in its
    // own terms, its form shown again (src/http/page-form.ts), where "send JSON" made no sense.
    if (shape.pageForm) return unreadableForm(type)
    throw notAnObject(type)
  }
  const text = await bodyText(request, () => notUtf8Json(otherEncoding(request)))
  if (text.trim() === '') return empty()
  const counted = { members: 0 }
  const scan = scanJson(text, MAX_JSON_DEPTH, counted)
  if (scan & JSON_TOO_DEEP) {
    throw new AppError('json_too_deep', `Request body nested too deeply: JSON may nest at most ${MAX_JSON_DEPTH} levels of objects and arrays.`)
  }
  if (counted.members > MAX_BODY_MEMBERS) throw tooManyMembers(counted.members, 'object members (keys, counted in every object)')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw invalidJson(otherEncoding(request, text))
  }
  if (!isPlainObject(value)) throw notAnObject(type)
  try {
    refuseBadText(text, value, counted.members, scan)
  } catch (e) {
    // Each of those names a field by its path (`secrets.sk-live-…`): a secret name failing its
    // rule is told by its position instead (secretNamesFirst).
    throw secretNamesFirst(value, shape.secretFields ?? []) ?? e
  }
  const secret = secretRefusal(value, shape.secretFields ?? [], text)
  if (secret) throw secret
  return value
}

/** The rules of a parsed JSON body's text and values (NUL, lone surrogates, `__proto__`, a key given twice, inexact numbers). */
function refuseBadText(text: string, value: object, members: number, scan: number): void {
  if (jsonHasNul(text)) throw nulRefused(firstBadText(value, (s) => s.includes('\0')))
  if (jsonMayHaveSurrogate(text) && hasLoneSurrogate(value)) throw loneSurrogateRefused(firstBadText(value, (s) => !s.isWellFormed()))
  // Escapes (`"\u005f_proto__"`) are decoded by the parse: look at the keys, when the text may hold one.
  if ((text.includes('proto') || text.includes('\\u')) && hasProtoKey(value, 0)) throw protoKeyRefused()
  // A key given twice in one object (`{"title":"a","title":"b"}`): JSON.parse kept the last and
  // dropped the other without a word, where a form's or a query's repeat is refused.
  if (members !== parsedMemberCount(value)) {
    const twice = firstDuplicateKey(text)
    if (twice) throw duplicateKeyRefused(twice.path, twice.key)
  }
  if (scan & JSON_INEXACT_NUMBER) {
    const target = firstInexactLiteral(text)
    const found = target === undefined ? null : numberPath(value, target)
    if (found !== null) throw inexactNumberRefused(found.path, found.value)
  }
}

/**
 * Whether a parsed JSON value has a key `__proto__` at any depth. JSON.parse keeps it as an own
 * key, but the first copy of the object made by assignment (a spread, a clean-up, a mapping)
 * sets the copy's prototype with it instead: a task's metadata was stored with the key and
 * answered without it. No client needs such a key: refused (422), never half-kept.
 */
function hasProtoKey(v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object' || depth > MAX_JSON_DEPTH) return false
  if (Array.isArray(v)) return v.some((x) => hasProtoKey(x, depth + 1))
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) return true
  for (const k of Object.keys(v)) if (hasProtoKey((v as Record<string, unknown>)[k], depth + 1)) return true
  return false
}

function protoKeyRefused(): AppError {
  const message = 'a key named __proto__ is not accepted anywhere in a body (it names an object\'s prototype in JavaScript); rename it'
  return invalidField('body', message)
}

/**
 * The body as text. A client that closes the connection before its body is complete (fewer bytes
 * than its Content-Length, a chunked body without its last chunk) aborts the read: that is the
 * client's doing, answered (to nobody) and logged as a 400, not as a server error.
 */
/**
 * The whole body, a chunk at a time: each chunk gives the connection its idle bound again
 * (bodyArrived), so a body that keeps coming, however slowly, is read to its end. request.bytes()
 * could not say that anything arrived, and Bun's deadline cut slow uploads.
 */
async function readBytes(request: Request): Promise<Uint8Array> {
  // A small body declared by its length (nearly every API request's) is read whole: a stream
  // reader costs a request ~7 µs more (a bare server's POST of 300 bytes, 12.4-14.5 against
  // 19.7-20.8 µs of CPU, alternating rounds), and such a body is one or a few packets, which only
  // a client dribbling on purpose sends slower than the idle bound allows.
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared <= WHOLE_BODY_BYTES) return request.bytes()
  const reader = request.body!.getReader()
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bodyChunkKept(request, value.byteLength, reader)
    parts.push(value)
    size += value.byteLength
    bodyArrived(request)
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)
}

/** A body declared at most this long is read at once, not a chunk at a time (readBytes). */
const WHOLE_BODY_BYTES = 64 * 1024

async function bodyText(request: Request, notUtf8: () => AppError): Promise<string> {
  let bytes: Uint8Array
  try {
    bytes = await readBytes(request)
  } catch (e) {
    throw abortedBody(e)
  }
  try {
    return UTF8.decode(bytes)
  } catch {
    throw notUtf8()
  }
}

function notUtf8Json(hint = ''): AppError {
  return new AppError('invalid_json', `Invalid JSON in request body: it is not valid UTF-8${hint}. Send JSON encoded as UTF-8 (RFC 8259), with Content-Type: application/json.`)
}

function notUtf8Form(): AppError {
  const message = 'body must be valid UTF-8 (percent-encode other bytes as UTF-8), or send a JSON object with Content-Type: application/json'
  return invalidField('body', message)
}

/**
 * The request body's content coding when it is one this server does not decode (anything but
 * `identity`), else null. Such a body was read as if plain: a gzip body was invalid JSON, a plain
 * body labelled gzip was accepted.
 */
function contentCoding(request: Request): string | null {
  const header = request.headers.get('content-encoding')
  if (header === null) return null
  const codings = header.split(',').map((c) => c.trim().toLowerCase())
  return codings.every((c) => c === '' || c === 'identity') ? null : header.trim()
}

function encodingRefused(coding: string): AppError {
  const shown = clipped(coding, 40, '…')
  return new AppError('unsupported_media_type', `Unsupported Content-Encoding "${shown}": this server reads request bodies as sent and decodes none. Send the body uncompressed, without a Content-Encoding header.`, {
    // RFC 9110 §15.5.16: the codings a request may use.
    headers: { 'accept-encoding': 'identity' },
  })
}

/** What a failed read of a request body is: `request_aborted` when the client went away, else the error itself. */
export function abortedBody(e: unknown): unknown {
  if ((e as { name?: unknown } | null)?.name !== 'AbortError') return e
  return new AppError('request_aborted', 'The request body was not received whole: the client closed the connection before sending all of it.')
}

/** A number that would not come back as sent: Infinity (a literal beyond ~1.8e308) or an integer beyond 2^53 - 1. */
function inexactNumberRefused(field: string, n: number): AppError {
  const message = Number.isFinite(n)
    ? `${field} is an integer beyond ±9007199254740991 (2^53 - 1): numbers are IEEE-754 doubles here, which do not hold every integer past that (9007199254740993 would come back as ...992); send it as a string`
    : `${field} is too large for a number (a double reaches about ±1.8e308; it would come back as null); send it as a string`
  return invalidField(field, message)
}

/** Where a bad character is (firstBadText): the field it names, as details and the message say it. */
type BadTextAt = { path: string; key: boolean } | null

function badTextRefused(at: BadTextAt, rule: string): AppError {
  const field = at === null || at.path === '' ? 'body' : at.path
  const message = at === null ? `text ${rule}` : at.key ? `a key ${rule}` : rule
  const said = at === null ? message : at.key ? `a key of ${field} ${rule}` : `${field} ${rule}`
  return new AppError('validation_failed', `Validation failed: ${said}`, { details: [{ field, message }] })
}

/** The NUL character in a JSON body or a form, said of the field that holds it (in a 64 KiB body, "text" did not say where). */
function nulRefused(at: BadTextAt): AppError {
  return badTextRefused(at, 'must not contain the NUL character (U+0000)')
}

/** The first field of a form (or a field's name) holding the NUL character; null when the form does not parse. */
function nulInForm(form: string): BadTextAt {
  let fields: Record<string, unknown>
  try {
    fields = parseQuery(form) as Record<string, unknown>
  } catch {
    return null
  }
  for (const [k, v] of Object.entries(fields)) {
    if (k.includes('\0')) return { path: '', key: true }
    const values = Array.isArray(v) ? v : [v]
    if (values.some((x) => typeof x === 'string' && x.includes('\0'))) return { path: clipped(k, 64, '…'), key: false }
  }
  return null
}

function duplicateKeyRefused(path: string, key: string): AppError {
  const shownKey = clipped(key, 60, '…')
  const field = path ? `${path}.${shownKey}` : shownKey
  const message = `${field} was given more than once in the same JSON object: give it once (JSON keeps only the last, and the others were dropped without a word)`
  return invalidField(field, message)
}

function loneSurrogateRefused(at: BadTextAt): AppError {
  return badTextRefused(at, 'must be well-formed Unicode: an escape \\ud800-\\udfff must be half of a surrogate pair')
}

/** What readAny answers when no body was sent (none, an empty text, an empty form): never handed on as it is. */
const NOTHING: object = Object.freeze({})

/**
 * An empty body is no body, whatever its Content-Type says (README): the route's validation says
 * which fields are missing, and a route whose fields are all optional refuses it (readBody).
 * Empty JSON was a 400 `invalid_json` on routes that require a body (as Elysia had it) while the
 * same empty body without the header was a 422, and an optional body's was taken as none.
 */
function empty(): object {
  return NOTHING
}

function bodyRequired(fields: readonly string[]): AppError {
  const message = `a body is required: send a JSON object with at least one of ${fields.join(', ')}`
  return invalidField('body', message)
}
