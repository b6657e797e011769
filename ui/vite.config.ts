// The UI is served by the agent from the binary: relative asset paths, no source maps.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": "http://127.0.0.1:9190", "/profile": "http://127.0.0.1:9190", "/metrics": "http://127.0.0.1:9190" } },
});
