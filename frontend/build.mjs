// Builds frontend/src into frontend/dist, which embed.go puts in the binary.
// The output is deterministic, so the test command (make check-generated)
// can rebuild and compare checksums to tell that the committed assets are
// not stale.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = "frontend/dist";
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ["frontend/src/app.css", "frontend/src/app.js"],
  outdir: out,
  bundle: true,
  minify: true,
  target: ["es2018", "chrome90", "firefox88", "safari14"],
  logLevel: "warning",
  legalComments: "none",
});

copyFileSync("node_modules/htmx.org/dist/htmx.min.js", `${out}/htmx.min.js`);
copyFileSync("frontend/src/favicon.svg", `${out}/favicon.svg`);
