/**
 * The packed README's links (scripts/npm-readme.ts, run by `prepack` and
 * `postpack`): every relative link becomes the packed file's address, links to
 * its own headings, other sites and code blocks stay, and the inverse gives the
 * repository's README back byte for byte.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { readFileSync } from "node:fs"
import * as Path from "node:path"
import { absoluteLinks, packageBase, relativeLinksOf } from "../scripts/npm-readme.ts"
import { relativeLinks } from "../scripts/markdown.ts"

const base = packageBase("effect-dflockd", "0.1.0")
const readme = readFileSync(Path.join(import.meta.dirname, "..", "README.md"), "utf8")

describe("the packed README's links", () => {
  it("README.md: no relative link left but to its own headings, and back byte for byte", () => {
    const packed = absoluteLinks(readme, base)
    const left = relativeLinks(packed).filter((link) => !link.target.startsWith("#"))
    assert.deepStrictEqual(left, [])
    assert.isAbove(packed.split(`](${base}`).length - 1, 10, "the README links the guides and examples")
    assert.strictEqual(relativeLinksOf(packed, base), readme)
  })

  it("a path, a path with an anchor, ./ paths, anchors, other sites and code blocks", () => {
    const text = [
      "See [the guarantees](docs/guarantees.md#the-one-promise), [examples](./examples/) and [errors](#errors).",
      "[Effect](https://effect.website) and [mail](mailto:a@b.c).",
      "```ts",
      "const link = \"[not a link](docs/x.md)\"",
      "```"
    ].join("\n")
    assert.strictEqual(
      absoluteLinks(text, base),
      [
        `See [the guarantees](${base}docs/guarantees.md#the-one-promise), [examples](${base}examples/) and [errors](#errors).`,
        "[Effect](https://effect.website) and [mail](mailto:a@b.c).",
        "```ts",
        "const link = \"[not a link](docs/x.md)\"",
        "```"
      ].join("\n")
    )
  })

  it("relativeLinksOf undoes absoluteLinks for any relative path link", () => {
    const segment = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/)
    const link = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.option(segment, { nil: undefined }))
      .map(([parts, anchor]) => `[t](${parts.join("/")}.md${anchor === undefined ? "" : `#${anchor}`})`)
    fc.assert(
      fc.property(
        fc.array(fc.oneof(link, fc.constantFrom("text ", "\n", "[a](#b) ", "[c](https://x.y/z) ")), { maxLength: 20 }),
        (parts) => {
          const text = parts.join("")
          const packed = absoluteLinks(text, base)
          assert.strictEqual(relativeLinksOf(packed, base), text)
          assert.isTrue(relativeLinks(packed).every((l) => l.target.startsWith("#")))
        }
      )
    )
  })
})
