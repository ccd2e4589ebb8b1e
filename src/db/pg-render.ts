import type postgres from 'postgres'

/** A value left to each execution of a statement rendered once (renderOnce): the `index`th of its values. */
export class Slot {
  constructor(readonly index: number) {}
}

/** A statement's text and its parameters in order, each a constant or a Slot filled at each execution. */
export interface Rendered {
  text: string
  params: readonly unknown[]
}

/**
 * The text and parameter order postgres-js would build from a tagged-template query and the
 * fragments nested in it (its `stringify`: each fragment's strings in place, each other value a
 * `$n` in the order met), rendered once. Values that differ between executions are Slots, given by
 * `fill` at each one, so a statement assembled from shared fragments keeps those fragments as its
 * one source and costs no fragment building a time (each fragment is a postgres-js Query, a
 * Promise with its closures). Only fragments and plain values: postgres-js's helpers (`sql(obj)`,
 * identifiers) are refused rather than rendered differently.
 */
export function renderOnce(client: postgres.Sql, query: unknown): Rendered {
  const Fragment = Object.getPrototypeOf(client``).constructor as Function
  const params: unknown[] = []
  const render = (q: { strings: readonly string[]; args: readonly unknown[] }): string => {
    let text = q.strings[0]!
    for (let i = 1; i < q.strings.length; i++) {
      const v = q.args[i - 1]
      if (v instanceof Fragment) text += render(v as never)
      else if (v === undefined || (typeof v === 'object' && v !== null && !(v instanceof Slot))) throw new Error('renderOnce: only fragments, Slots and plain values')
      else text += `$${params.push(v)}`
      text += q.strings[i]
    }
    return text
  }
  if (!(query instanceof Fragment)) throw new Error('renderOnce: not a tagged-template query')
  return { text: render(query as never), params }
}

/** A Rendered statement's parameters for one execution: each Slot replaced by its value in `values`. */
export function fill(r: Rendered, values: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(r.params.length)
  for (let i = 0; i < out.length; i++) {
    const p = r.params[i]
    out[i] = p instanceof Slot ? values[p.index] : p
  }
  return out
}
