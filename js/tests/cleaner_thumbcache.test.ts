import { describe, expect, it } from "vitest";
import { ThumbCache, thumbKey, type Thumb } from "../src/core/thumbcache";

const thumb = (url: string | null, broken: string | null = null): Thumb => ({ url, broken, w: 10, h: 10 });

function cache(max: number) {
  const revoked: string[] = [];
  return { c: new ThumbCache(max, (url) => revoked.push(url)), revoked };
}

describe("ThumbCache", () => {
  it("keys by item and size", () => {
    expect(thumbKey(3, 128)).toBe("3:128");
    const { c } = cache(10);
    c.set(3, 128, thumb("blob:a"));
    expect(c.has(3, 128)).toBe(true);
    expect(c.has(3, 64)).toBe(false);
    expect(c.get(3, 128)?.url).toBe("blob:a");
    expect(c.get(3, 64)).toBeUndefined();
  });

  it("evicts the least recently used entry and revokes its URL", () => {
    const { c, revoked } = cache(3);
    c.set(0, 64, thumb("blob:0"));
    c.set(1, 64, thumb("blob:1"));
    c.set(2, 64, thumb("blob:2"));
    c.get(0, 64); // 0 is now the most recent: 1 is the oldest
    c.set(3, 64, thumb("blob:3"));
    expect(c.size).toBe(3);
    expect(revoked).toEqual(["blob:1"]);
    expect(c.has(1, 64)).toBe(false);
    expect(c.has(0, 64)).toBe(true);
  });

  it("never holds more than its bound", () => {
    const { c, revoked } = cache(50);
    for (let i = 0; i < 1000; i++) c.set(i, 128, thumb(`blob:${i}`));
    expect(c.size).toBe(50);
    expect(revoked.length).toBe(950);
    expect(revoked[0]).toBe("blob:0");
    expect(c.has(999, 128)).toBe(true);
  });

  it("revokes the URL a new thumbnail replaces", () => {
    const { c, revoked } = cache(10);
    c.set(0, 64, thumb("blob:old"));
    c.set(0, 64, thumb("blob:new"));
    expect(revoked).toEqual(["blob:old"]);
    expect(c.size).toBe(1);
  });

  it("keeps broken entries (no URL to revoke)", () => {
    const { c, revoked } = cache(1);
    c.set(0, 64, thumb(null, "truncated file"));
    expect(c.get(0, 64)?.broken).toBe("truncated file");
    c.set(1, 64, thumb("blob:1"));
    expect(revoked).toEqual([]);
    expect(c.has(0, 64)).toBe(false);
  });

  it("offers the nearest other size as a stand-in", () => {
    const { c } = cache(10);
    c.set(5, 64, thumb("blob:64"));
    c.set(5, 256, thumb("blob:256"));
    c.set(6, 128, thumb("blob:6"));
    expect(c.getOrStandIn(5, 96)?.url).toBe("blob:64");
    expect(c.getOrStandIn(5, 200)?.url).toBe("blob:256");
    expect(c.getOrStandIn(5, 256)?.url).toBe("blob:256");
    expect(c.getOrStandIn(7, 128)).toBeUndefined();
  });

  it("clear revokes everything", () => {
    const { c, revoked } = cache(10);
    c.set(0, 64, thumb("blob:0"));
    c.set(1, 64, thumb(null, "bad"));
    c.set(2, 64, thumb("blob:2"));
    c.clear();
    expect(revoked.sort()).toEqual(["blob:0", "blob:2"]);
    expect(c.size).toBe(0);
    expect(c.getOrStandIn(0, 128)).toBeUndefined();
  });
});
