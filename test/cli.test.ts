import { describe, expect, it, vi } from "vitest";
import { main } from "../src/cli/main.js";

describe("aha cli", () => {
  it("prints the version", async () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const code = await main(["--version"]);
    const out = write.mock.calls.map((c) => String(c[0])).join("");
    write.mockRestore();
    expect(code).toBe(0);
    expect(out).toMatch(/^aha \d+\.\d+\.\d+/);
  });

  it("rejects an unknown command with exit code 2 and names it", async () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const code = await main(["no-such-command"]);
    const err = write.mock.calls.map((c) => String(c[0])).join("");
    write.mockRestore();
    expect(code).toBe(2);
    expect(err).toContain("unknown command 'no-such-command'");
  });
});
