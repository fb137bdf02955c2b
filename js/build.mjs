// Bundles each widget entry to src/fastwidgets/static/<name>.js (ESM, minified), the
// files anywidget loads as `_esm`. Paths are relative to this file so any cwd works.
//
// Size matters: anywidget sends `_esm` in every widget's comm_open (LiveCurve's is built
// inside the user's fit) and the notebook saves it once per widget. So a bundle above
// PACK_ABOVE is gzipped into a small loader module (src/loader.ts) that unpacks it in
// the browser, once per page.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "src", "fastwidgets", "static");
/** One entry per widget; the output file takes the entry's name. */
const ENTRIES = ["curve", "lr_finder", "cleaner", "sgd"];
/** P7: what a widget sends as `_esm` stays under this (plotly basic alone is ~1.19 MB). */
const MAX_BYTES = 1.6e6;
/** Bundles larger than this travel gzipped (the cleaner's 34 KB does not need to). */
const PACK_ABOVE = 100e3;

const common = { bundle: true, format: "esm", minify: true, legalComments: "none", logLevel: "warning" };
const mb = (n) => `${(n / 1e6).toFixed(3)} MB`;

mkdirSync(outdir, { recursive: true }); // a clean checkout has no static/ yet
let ok = true;
for (const name of ENTRIES) {
  const outfile = join(outdir, `${name}.js`);
  const plain = await build({
    ...common,
    entryPoints: [join(here, "src", `${name}.ts`)],
    target: "es2020",
    write: false,
  });
  const code = plain.outputFiles[0].contents;
  let shipped = code;
  let note = "";
  if (code.length > PACK_ABOVE) {
    const payload = gzipSync(code, { level: 9 }).toString("base64");
    const key = `${name}-${createHash("sha256").update(code).digest("hex").slice(0, 16)}`;
    const loader = await build({
      ...common,
      entryPoints: [join(here, "src", "loader.ts")],
      target: "es2022", // top-level await
      define: { FW_PAYLOAD: JSON.stringify(payload), FW_KEY: JSON.stringify(key) },
      write: false,
    });
    shipped = loader.outputFiles[0].contents;
    note = `, gzipped from ${mb(code.length)}`;
  }
  writeFileSync(outfile, shipped);
  const within = shipped.length <= MAX_BYTES && code.length <= MAX_BYTES;
  ok &&= within;
  console.log(`${relative(process.cwd(), outfile)}  ${mb(shipped.length)}${note}  (limit ${MAX_BYTES / 1e6} MB${within ? "" : ", EXCEEDED"})`);
}
if (!ok) process.exit(1);
