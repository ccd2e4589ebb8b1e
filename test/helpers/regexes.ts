import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

/**
 * Every regular expression written in a directory's TypeScript (src/): regex literals, RegExp(...)
 * and new RegExp(...), strings handed to a string's match/matchAll/search (which make a RegExp of
 * them), and the `pattern` of an object literal (a TypeBox schema's, which its validator compiles
 * without flags: `new RegExp(pattern)`).
 * A pattern built from constants (string and number literals, templates, `+`, a regex's `.source`,
 * consts and object properties, imported or not) is folded to its text; one that depends on a value
 * known only at run time (a parameter, a call) is returned with `source: null`.
 */
export interface FoundRegex {
  /** file:line:column, the file relative to the root's parent (src/x.ts:12:5). */
  where: string
  kind: 'literal' | 'RegExp' | 'string method' | 'schema pattern'
  /** The pattern's text, or null where it is only known at run time. */
  source: string | null
  flags: string
  /** The expression as written, for a dynamic one's allow-list entry and for messages. */
  text: string
}

type Folded = { kind: 'string'; value: string } | { kind: 'regex'; source: string; flags: string }

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort()
}

export function collectRegexes(root: string): FoundRegex[] {
  const files = tsFiles(root)
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ESNext,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    jsx: ts.JsxEmit.ReactJSX,
    jsxImportSource: '@kitajs/html',
    noEmit: true,
    skipLibCheck: true,
    noResolve: true,
    types: [],
  })
  const checker = program.getTypeChecker()
  const base = join(root, '..')
  const found: FoundRegex[] = []

  const declOf = (node: ts.Node): ts.Declaration | undefined => {
    let sym = checker.getSymbolAtLocation(node)
    if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym)
    return sym?.valueDeclaration ?? sym?.declarations?.[0]
  }

  const fold = (e: ts.Expression, depth = 0): Folded | undefined => {
    if (depth > 40) return undefined
    const again = (x: ts.Expression) => fold(x, depth + 1)
    const str = (x: ts.Expression) => {
      const f = again(x)
      return f?.kind === 'string' ? f.value : undefined
    }
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return { kind: 'string', value: e.text }
    if (ts.isNumericLiteral(e)) return { kind: 'string', value: String(Number(e.text)) }
    if (ts.isRegularExpressionLiteral(e)) {
      const end = e.text.lastIndexOf('/')
      return { kind: 'regex', source: e.text.slice(1, end), flags: e.text.slice(end + 1) }
    }
    if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isNonNullExpression(e) || ts.isTypeAssertionExpression(e)) return again(e.expression)
    if (ts.isTemplateExpression(e)) {
      let value = e.head.text
      for (const span of e.templateSpans) {
        const part = str(span.expression)
        if (part === undefined) return undefined
        value += part + span.literal.text
      }
      return { kind: 'string', value }
    }
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const l = str(e.left)
      const r = str(e.right)
      return l === undefined || r === undefined ? undefined : { kind: 'string', value: l + r }
    }
    if (ts.isPropertyAccessExpression(e) && (e.name.text === 'source' || e.name.text === 'flags')) {
      const re = again(e.expression)
      if (re?.kind === 'regex') return { kind: 'string', value: e.name.text === 'source' ? re.source : re.flags }
    }
    if (ts.isIdentifier(e) || ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) {
      const d = ts.isElementAccessExpression(e) ? declOf(e.argumentExpression) ?? undefined : declOf(ts.isPropertyAccessExpression(e) ? e.name : e)
      if (d && ts.isVariableDeclaration(d) && d.initializer && ts.getCombinedNodeFlags(d) & ts.NodeFlags.Const) return again(d.initializer)
      if (d && ts.isPropertyAssignment(d)) return again(d.initializer)
      if (d && ts.isEnumMember(d) && d.initializer) return again(d.initializer)
    }
    if (ts.isNewExpression(e) || ts.isCallExpression(e)) {
      if (isRegExpCallee(e.expression) && e.arguments?.length) {
        const p = again(e.arguments[0]!)
        const fl = e.arguments[1] ? str(e.arguments[1]) : undefined
        if (p?.kind === 'string') return { kind: 'regex', source: p.value, flags: fl ?? '' }
        if (p?.kind === 'regex') return { kind: 'regex', source: p.source, flags: fl ?? p.flags }
      }
    }
    const t = checker.getTypeAtLocation(e)
    if (t.isStringLiteral()) return { kind: 'string', value: t.value }
    if (t.isNumberLiteral()) return { kind: 'string', value: String(t.value) }
    return undefined
  }

  const propertyName = (n: ts.PropertyAssignment | ts.ShorthandPropertyAssignment) =>
    ts.isIdentifier(n.name) || ts.isStringLiteral(n.name) ? n.name.text : undefined
  /**
   * An object literal whose type, declared in src/, names `pattern` itself (a model alias's glob):
   * not a schema's. TypeBox's options are not resolved here (node_modules is not read), and a
   * schema record of src/ has no such member.
   */
  const ownPattern = (o: ts.ObjectLiteralExpression) => {
    const decl = checker.getContextualType(o)?.getProperty('pattern')?.valueDeclaration
    return !!decl && ts.isPropertySignature(decl) && files.includes(decl.getSourceFile().fileName)
  }
  const isRegExpCallee = (c: ts.Expression) =>
    (ts.isIdentifier(c) && c.text === 'RegExp') || (ts.isPropertyAccessExpression(c) && c.name.text === 'RegExp' && ts.isIdentifier(c.expression) && c.expression.text === 'globalThis')

  for (const sf of program.getSourceFiles()) {
    if (!files.includes(sf.fileName)) continue
    const at = (n: ts.Node) => {
      const { line, character } = sf.getLineAndCharacterOfPosition(n.getStart(sf))
      return `${relative(base, sf.fileName)}:${line + 1}:${character + 1}`
    }
    const add = (n: ts.Node, kind: FoundRegex['kind'], f: Folded | undefined, flags = '') =>
      found.push({
        where: at(n),
        kind,
        source: f === undefined ? null : f.kind === 'regex' ? f.source : f.value,
        flags: f?.kind === 'regex' ? f.flags : flags,
        text: n.getText(sf).slice(0, 300),
      })
    const visit = (n: ts.Node) => {
      if (ts.isRegularExpressionLiteral(n)) add(n, 'literal', fold(n))
      else if ((ts.isNewExpression(n) || ts.isCallExpression(n)) && isRegExpCallee(n.expression)) {
        const arg = n.arguments?.[0]
        // new RegExp(/literal/, flags) repeats a literal already found, unless its flags change.
        if (arg && !(ts.isRegularExpressionLiteral(arg) && !n.arguments![1])) add(n, 'RegExp', fold(n))
      } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && ['match', 'matchAll', 'search'].includes(n.expression.name.text) && n.arguments.length === 1) {
        const recv = checker.getTypeAtLocation(n.expression.expression)
        const arg = n.arguments[0]!
        const argType = checker.getTypeAtLocation(arg)
        if (recv.flags & ts.TypeFlags.StringLike && argType.flags & ts.TypeFlags.StringLike) add(n, 'string method', fold(arg), n.expression.name.text === 'matchAll' ? 'g' : '')
      } else if ((ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) && propertyName(n) === 'pattern' && ts.isObjectLiteralExpression(n.parent) && !ownPattern(n.parent)) {
        const value = ts.isPropertyAssignment(n) ? n.initializer : n.name
        const f = fold(value)
        // A RegExp value is found where it is made; only strings are compiled from here.
        const isRegExp = f?.kind === 'regex' || checker.getTypeAtLocation(value).getSymbol()?.getName() === 'RegExp'
        if (!isRegExp) add(n, 'schema pattern', f, '')
      }
      ts.forEachChild(n, visit)
    }
    visit(sf)
  }
  return found
}

/**
 * What the checker is given for an expression: the expression less the plain characters right
 * after a leading `^` (without the m flag, the only place it can match), which are matched once,
 * one after the other, before anything else can backtrack, so they change nothing of how its time
 * grows; recheck's time grows fast with an expression's length (the console's messages, some
 * 100 characters of text, took seconds each). Kept whole when a `|` outside any group or class
 * would leave the `^` to its first branch only, and when a lookbehind or `\b` could look back at
 * what was taken off.
 */
export function checkedSource(source: string, flags: string): string {
  if (!source.startsWith('^') || flags.includes('m') || flags.includes('v') || /\(\?<[=!]|\\[bB]/.test(source) || topLevelBar(source)) return source
  let i = 1
  for (;;) {
    const len = source[i] === '\\' && /^[^A-Za-z0-9]$/.test(source[i + 1] ?? 'x') ? 2 : /^[A-Za-z0-9 :,;'"!=<>@#%&~_/-]$/.test(source[i] ?? '') ? 1 : 0
    // A character a quantifier follows is not matched once: it stays.
    if (len === 0 || /^[*+?{]$/.test(source[i + len] ?? '')) break
    i += len
  }
  return `^${source.slice(i)}`
}

/** Whether `source` has a `|` outside every group and class. */
function topLevelBar(source: string): boolean {
  let depth = 0
  let inClass = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]
    if (c === '\\') i++
    else if (inClass) inClass = c !== ']'
    else if (c === '[') inClass = true
    else if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === '|' && depth === 0) return true
  }
  return false
}
