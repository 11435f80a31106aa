/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// Preact's automatic JSX runtime through esbuild: no framework plugin needed.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    // The crypto wasm is large; it is fetched once and cached (hashed name).
    chunkSizeWarningLimit: 4096,
    assetsInlineLimit: 0,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
});
