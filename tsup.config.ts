import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/*.ts"],
  format: ["esm", "cjs"],
  sourcemap: true,
  clean: true,
  dts: false,
  target: "node22",
  splitting: true,
  treeshake: true
})
