import { t } from 'elysia'

/** Console forms: any flat form body (urlencoded); handlers read fields with `field`. */
export const FormBody = t.Object({}, { additionalProperties: true })
export const NoBody = undefined

/** A form field as one string ('' when absent; the first value when repeated). */
export function field(body: unknown, name: string): string {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : ''
  return typeof v === 'string' ? v : ''
}

/** Every value of a repeated field (checkboxes). */
export function fields(body: unknown, name: string): string[] {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string')
  return typeof v === 'string' ? [v] : []
}

/** The console's route options: hidden from the OpenAPI document (it describes /api only). */
export const hidden = { detail: { hide: true } } as const
