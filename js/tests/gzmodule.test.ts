import { describe, expect, it } from "vitest";
import { decodeBase64, gunzipText, importGzipModule } from "../src/core/gzmodule";

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** What js/build.mjs does to a bundle (there with node's zlib). */
async function pack(text: string): Promise<string> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return toBase64(new Uint8Array(await new Response(stream).arrayBuffer()));
}

describe("gzipped widget bundles", () => {
  it("decodes base64 to the exact bytes", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(decodeBase64(toBase64(bytes)))).toEqual(Array.from(bytes));
  });

  it("unpacks the source text, non-ASCII included", async () => {
    const source = `export default { render() { return "λ → ✓ ${"x".repeat(5000)}"; } };`;
    expect(await gunzipText(decodeBase64(await pack(source)))).toBe(source);
  });

  it("rejects bytes that are not gzip", async () => {
    await expect(gunzipText(decodeBase64(btoa("not gzip at all")))).rejects.toThrow();
  });

  it("unpacks and evaluates a bundle once per key, sharing the module", async () => {
    const seen: string[] = [];
    const load = async (source: string) => {
      seen.push(source);
      return { default: { source } };
    };
    const key = `test-${Math.random()}`;
    const packed = await pack("A");
    const a = importGzipModule<{ default: { source: string } }>(packed, key, load);
    const b = importGzipModule<{ default: { source: string } }>(packed, key, load);
    expect(a).toBe(b);
    expect((await a).default.source).toBe("A");
    expect(seen).toEqual(["A"]);
    // another build of the bundle (another key) is a module of its own
    await importGzipModule(await pack("B"), `${key}-2`, load);
    expect(seen).toEqual(["A", "B"]);
  });

  it("does not keep a failure: the next widget tries again", async () => {
    const key = `test-${Math.random()}`;
    let calls = 0;
    const load = async (source: string) => {
      calls += 1;
      if (calls === 1) throw new SyntaxError("broken");
      return { default: source };
    };
    const packed = await pack("C");
    await expect(importGzipModule(packed, key, load)).rejects.toThrow("broken");
    await Promise.resolve(); // the cache entry is dropped in a microtask
    expect(await importGzipModule<{ default: string }>(packed, key, load)).toEqual({
      default: "C",
    });
    expect(calls).toBe(2);
  });
});
