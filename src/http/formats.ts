import { FormatRegistry } from '@sinclair/typebox'

/**
 * Numeric strings are decimal. Elysia declares `t.Integer()` as "an integer, or a string of one"
 * (so that form fields and TeamDay's `"expiresInDays": "90"` pass) and checks the string with
 * `Number.isInteger(+value)`, which also took `"0x5A"`, `"0b1011010"`, `"1e2"`, `" 90"` and
 * `"90.0"` for 90 or 100. Here the string must be written as a JSON number would be: digits with
 * an optional minus sign (an integer within the exact range of a double), or for `numeric` a
 * decimal with an optional fraction and exponent. Replaces Elysia's two formats when app.ts is
 * loaded (TypeBox looks formats up when it checks, so the compiled validators use these).
 */
const INTEGER = /^-?(0|[1-9]\d*)$/
const NUMERIC = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/

FormatRegistry.Set('integer', (value) => INTEGER.test(value) && Number.isSafeInteger(Number(value)))
FormatRegistry.Set('numeric', (value) => NUMERIC.test(value) && Number.isFinite(Number(value)))
