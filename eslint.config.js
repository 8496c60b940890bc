// ESLint flat config: @eslint/js and typescript-eslint recommended rules, syntactic only (no type information,
// so `npm run lint` stays fast; `npm run typecheck` and @effect/language-service cover the types).
// Formatting is dprint's job (dprint.json); `npm run lint` runs `dprint check` after ESLint.
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

export default defineConfig(
  {
    // build output, and top-level dot folders (.dflockd, .bench, local scratch): not part of the sources
    ignores: ["**/node_modules/", "dist/", "docs/", "coverage/", "build/", ".*/"]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.{ts,mts,cts,js,mjs,cjs}"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module"
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", {
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrorsIgnorePattern: "^_",
        destructuredArrayIgnorePattern: "^_"
      }],
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      // Public models are named interfaces over internal ones (`interface Lock extends Lease.Lease {}`): keep that.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }]
    }
  },
  {
    // The wire codec must reject NUL and other control characters in keys and tokens, so its regular
    // expressions match them on purpose.
    files: ["src/internal/protocol/codec.ts"],
    rules: {
      "no-control-regex": "off"
    }
  }
)
