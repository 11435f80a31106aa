// ESLint for the web client: JavaScript's and typescript-eslint's
// recommended rules, with type information for the TypeScript sources so
// that promises nobody awaits or catches are found. Formatting is
// Prettier's business (eslint-config-prettier turns off rules it decides).
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import prettier from "eslint-config-prettier";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["src/**/*.{ts,tsx}"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "react-hooks": reactHooks },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      // Off: the effects here key on the identity they follow on purpose
      // (the room, the client, a verification request, "once on mount") and
      // read the rest fresh from the render; listing every value read would
      // re-subscribe and re-request on each render.
      "react-hooks/exhaustive-deps": "off",
      // Preact ignores what an event handler returns, so async handlers in
      // JSX attributes are fine: they catch the errors they can report into
      // the view's error state (the rest reach the browser's unhandled-
      // rejection log). Promises passed anywhere else are still checked.
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { attributes: false } }],
      // Off: its fixes disagree with tsc on matrix-js-sdk's content types
      // (removing the casts it reports left implicit-any errors in tsc).
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
    },
  },
  {
    files: ["vite.config.ts", "eslint.config.js"],
    languageOptions: { globals: globals.node },
  },
  {
    // Node scripts driving a browser: the callbacks they hand to
    // page.evaluate run in the page, with the browser's globals.
    files: ["e2e/**", "scripts/**"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ["public/sw.js"],
    languageOptions: { globals: globals.serviceworker },
  },
  prettier,
);
