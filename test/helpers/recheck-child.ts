/**
 * Checks regular expressions for super-linear backtracking with recheck, in a process of its own
 * (test/regex-safety.test.ts runs two at once): reads a JSON array of { source, flags } from the
 * file named by its argument, prints recheck's findings, in the same order, and the build used
 * (JSON: { backend, findings }).
 *
 * recheck's native build for this machine when npm installed one (an optional dependency, a
 * binary inside its npm package: some 4 times faster), else its pure JavaScript build; never its
 * Java build, and nothing fetched. The two give the same answers: every limit recheck measures
 * in time is off, so that they depend on the expression alone, never on how loaded the machine
 * is (a time limit reached would be an `unknown`, and a fuzzer's attack that ran slowly only
 * because the machine was busy a `vulnerable`); its step limits, which count, stay.
 */
import { check, type Diagnostics } from 'recheck'

const PARAMS = { timeout: null, attackTimeout: null, incubationTimeout: null, seedingTimeout: null } as const

let backend: 'native' | 'pure' = 'native'
async function diagnose(source: string, flags: string): Promise<Diagnostics> {
  // Read by check() at each call.
  process.env.RECHECK_BACKEND = backend
  try {
    return await check(source, flags, PARAMS)
  } catch (e) {
    // No native build for this machine (or it cannot run here).
    if (backend === 'pure') throw e
    backend = 'pure'
    return diagnose(source, flags)
  }
}

const input = (await Bun.file(process.argv[2]!).json()) as { source: string; flags: string }[]
const out = []
for (const { source, flags } of input) {
  const d = await diagnose(source, flags)
  out.push({
    status: d.status,
    complexity: d.status === 'unknown' ? null : d.complexity.type,
    attack: d.status === 'vulnerable' ? d.attack.pattern : null,
    error: d.status === 'unknown' ? String(d.error?.kind ?? d.error) : null,
  })
}
process.stdout.write(JSON.stringify({ backend, findings: out }))
