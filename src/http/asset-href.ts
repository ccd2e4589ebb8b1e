/**
 * An asset's address as pages name it: its path and a hash of its content (`?v=…`, which the
 * route ignores). Browsers keep a file for its max-age; named by its path alone, the stylesheet
 * and scripts of the version before an upgrade went on serving the new version's pages for up to
 * an hour (the console's script with pages it was not written for). A new content is a new address.
 */
export function versionedHref(path: string, body: string | Buffer): string {
  return `${path}?v=${Bun.hash(body).toString(36)}`
}
