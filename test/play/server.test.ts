/**
 * The dashboard serves the /play folder: only its files (and those of demo-adder/), cross-origin
 * isolated (WebGPU's worker blocks on a SharedArrayBuffer) with a CSP that lets it compile WebAssembly;
 * /play redirects to /play/; without a built folder, a 404 that says how to build it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import { rawGet } from "../dashboard/helpers.js";

let dir: string;
let dash: Dashboard;
let bare: Dashboard;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aha-play-server-"));
  mkdirSync(join(dir, "runs"));
  mkdirSync(join(dir, "play", "demo-adder"), { recursive: true });
  mkdirSync(join(dir, "play", "other"));
  writeFileSync(join(dir, "play", "index.html"), "<!doctype html><title>play</title>");
  writeFileSync(join(dir, "play", "aha_kernels.wasm"), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(dir, "play", "demo-adder", "config.json"), "{}");
  writeFileSync(join(dir, "play", "other", "secret.json"), "{}");
  dash = await startDashboard({ runsDir: join(dir, "runs"), assetsDir: join(dir, "none"), playDir: join(dir, "play"), port: 0 });
  bare = await startDashboard({ runsDir: join(dir, "runs"), assetsDir: join(dir, "none"), port: 0 });
});

afterAll(async () => {
  await dash?.close();
  await bare?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("/play on the dashboard", () => {
  it("serves the page cross-origin isolated, with WebAssembly allowed by the CSP", async () => {
    const r = await rawGet(dash.url, "/play/");
    expect(r.status).toBe(200);
    expect(r.body).toContain("<title>play</title>");
    expect(r.headers["cross-origin-opener-policy"]).toBe("same-origin");
    expect(r.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    expect(String(r.headers["content-security-policy"])).toContain("'wasm-unsafe-eval'");
    const w = await rawGet(dash.url, "/play/aha_kernels.wasm");
    expect([w.status, w.headers["content-type"]]).toEqual([200, "application/wasm"]);
    expect((await rawGet(dash.url, "/play/demo-adder/config.json")).status).toBe(200);
  });

  it("redirects /play to /play/ and serves nothing else of the folder", async () => {
    const r = await rawGet(dash.url, "/play");
    expect([r.status, r.headers["location"]]).toEqual([301, "/play/"]);
    expect((await rawGet(dash.url, "/play/other/secret.json")).status).toBe(404);
    expect((await rawGet(dash.url, "/play/../runs")).status).toBe(403);
  });

  it("without a built page: a 404 saying how to build it", async () => {
    const r = await rawGet(bare.url, "/play/");
    expect(r.status).toBe(404);
    expect(r.body).toMatch(/npm run build/);
  });
});
