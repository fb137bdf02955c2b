// Bundles each widget entry to src/fastwidgets/static/<name>.js (ESM, minified), the
// files anywidget loads as `_esm`. Paths are relative to this file so any cwd works.
// Size matters: anywidget saves `_esm` once per widget in the notebook.
import { build } from "esbuild";
import { statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "src", "fastwidgets", "static");
/** One entry per widget; the output file takes the entry's name. */
const ENTRIES = ["curve", "lr_finder", "cleaner", "sgd"];
/** P7: a widget bundle stays under this (plotly basic alone is ~1.19 MB). */
const MAX_BYTES = 1.6e6;

let ok = true;
for (const name of ENTRIES) {
  const outfile = join(outdir, `${name}.js`);
  await build({
    entryPoints: [join(here, "src", `${name}.ts`)],
    outfile,
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2020",
    legalComments: "none",
    logLevel: "warning",
  });
  const bytes = statSync(outfile).size;
  const within = bytes <= MAX_BYTES;
  ok &&= within;
  console.log(`${relative(process.cwd(), outfile)}  ${(bytes / 1e6).toFixed(3)} MB  (limit ${MAX_BYTES / 1e6} MB${within ? "" : ", EXCEEDED"})`);
}
if (!ok) process.exit(1);
