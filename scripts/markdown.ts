/**
 * Links and headings of Markdown files, the way GitHub renders them. Shared by scripts/check-docs.ts
 * (README.md and docs/*.md link to files of the repository and to each other's headings) and
 * scripts/pack-check.ts (the packed Markdown files link only inside the package).
 */

/** The text without its fenced code blocks: a `#` line in a block is no heading, a `](` no link. */
const withoutCode = (text: string): string => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "")

/** GitHub's anchor for a heading: links reduced to their text, lower case, punctuation dropped, spaces as hyphens. */
export const anchorOf = (heading: string): string =>
  heading
    .trim()
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-")

/** The anchors of a Markdown text's headings; a repeated heading gets `-1`, `-2`, … as on GitHub. */
export const headingAnchors = (text: string): ReadonlySet<string> => {
  const anchors = new Set<string>()
  for (const [, heading = ""] of withoutCode(text).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const anchor = anchorOf(heading)
    let unique = anchor
    for (let i = 1; anchors.has(unique); i++) unique = `${anchor}-${i}`
    anchors.add(unique)
  }
  return anchors
}

/** A link of a Markdown text to something of its own repository or package: a path, an `#anchor`, or both. */
export interface RelativeLink {
  readonly target: string
  /** The path as written ("" for a link to a heading of the same file). */
  readonly path: string
  readonly anchor: string | undefined
}

/** The relative links of a Markdown text, `[text](target)`, outside code blocks; `https:`, `mailto:` … are left out. */
export const relativeLinks = (text: string): ReadonlyArray<RelativeLink> =>
  [...withoutCode(text).matchAll(/\]\(([^)\s]+)\)/g)].flatMap(([, target = ""]) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return []
    const [path = "", anchor] = target.split("#")
    return [{ target, path, anchor }]
  })
