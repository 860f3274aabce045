// Builds frontend/src into frontend/dist, which embed.go puts in the binary.
// The output is deterministic, so the test command (make check-generated)
// can rebuild and compare checksums to tell that the committed assets are
// not stale.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

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

// The files served as they are built are compressed here, once, at the
// strongest levels: compressing them at every start took most of the
// server's start-up time. app.css is left to the server, which appends the
// school's colour to it.
for (const name of ["htmx.min.js", "app.js"]) {
  const raw = readFileSync(`${out}/${name}`);
  writeFileSync(`${out}/${name}.br`, brotliCompressSync(raw, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
  }));
  writeFileSync(`${out}/${name}.gz`, gzipSync(raw, { level: 9 }));
}
