import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/*.ts"],
  format: ["esm", "cjs"],
  // no source maps: they would point at src/, which the package does not ship (scripts/pack-check.ts refuses .map)
  sourcemap: false,
  clean: true,
  dts: false,
  target: "node22",
  splitting: true,
  treeshake: true
})
