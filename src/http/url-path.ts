/** Where the path of an absolute request URL starts (after `scheme://host[:port]`); -1 when it has none. */
export function pathStart(url: string): number {
  return url.indexOf('/', url.indexOf('//') + 2)
}
