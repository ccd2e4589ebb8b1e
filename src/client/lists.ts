// Loops for the command line's common path, in place of Array.prototype.every and find:
// JavaScriptCore writes those built-ins in JavaScript and compiles each on its first call, ~0.1 M
// instructions apiece, which a client command would pay once per built-in it touches
// (docs/performance.md, Thirty-sixth session; test/client-startup.test.ts holds it).

/** Whether every item of `list` passes `test` (Array.prototype.every, for lists without holes). */
export function allAre<T>(list: readonly T[], test: (item: T) => boolean): boolean {
  for (let i = 0; i < list.length; i++) if (!test(list[i]!)) return false
  return true
}

/** The first item of `list` that passes `test`, or undefined (Array.prototype.find). */
export function firstWhere<T>(list: readonly T[], test: (item: T) => boolean): T | undefined {
  for (let i = 0; i < list.length; i++) if (test(list[i]!)) return list[i]
  return undefined
}
