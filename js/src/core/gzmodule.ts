// A widget bundle travels gzipped and base64-encoded inside a small loader module.
//
// Why: anywidget puts `_esm` in every widget's comm_open and the notebook saves it once
// per widget. Plotly makes a bundle 1.2 MB; gzipped and in base64 it is 0.54 MB, plain
// ASCII that the kernel JSON-encodes in ~1 ms instead of ~9 ms (inside the user's fit,
// since `cbs=LiveCurve()` builds the widget there) and that a saved notebook holds at
// less than half the size.

/** Bytes of a base64 string (atob gives one char per byte). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The UTF-8 text inside gzipped bytes, decompressed by the browser's own gunzip. */
export async function gunzipText(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  if (typeof DecompressionStream === "undefined") {
    throw new Error(
      "fastwidgets: this browser has no DecompressionStream (Chrome 80+, Firefox 113+ " +
        "and Safari 16.4+ have it); the widget's code cannot be unpacked",
    );
  }
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

type ModuleCache = Map<string, Promise<unknown>>;
const CACHE_KEY = Symbol.for("fastwidgets.modules");

/** The page-wide cache: every widget of one bundle shares one module (per-model state
 *  is keyed by each model's `_fw_id`), and the bundle is unpacked once per page. */
function moduleCache(): ModuleCache {
  const g = globalThis as unknown as Record<symbol, ModuleCache | undefined>;
  return (g[CACHE_KEY] ??= new Map());
}

/** Evaluate JS source as an ES module, as anywidget does with `_esm` (a blob URL). */
async function importSource(source: string): Promise<unknown> {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    return await import(/* @vite-ignore */ url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The module packed in `b64` (gzip, base64); `key` names this build of it. */
export function importGzipModule<T>(
  b64: string,
  key: string,
  load: (source: string) => Promise<unknown> = importSource,
): Promise<T> {
  const cache = moduleCache();
  let mod = cache.get(key);
  if (mod === undefined) {
    mod = gunzipText(decodeBase64(b64)).then(load);
    // a failure is not cached: the next widget tries again
    mod.catch(() => cache.delete(key));
    cache.set(key, mod);
  }
  return mod as Promise<T>;
}
