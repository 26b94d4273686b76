/**
 * The layer lint (eslint.config.js, docs/layers.md) on small sources posing as files of src/: it must
 * reject an upward import and each extra rule, naming the file, the imported layer and the rule, and
 * accept imports that point down or stay in their layer.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";
// @ts-expect-error eslint.config.js is plain JavaScript without type declarations
import { LAYERS } from "../../eslint.config.js";

const eslint = new ESLint({ cwd: process.cwd() });

/** The layer rule's messages for `code` linted as if it were the file `file`. */
async function layerErrors(file: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: file });
  return res!.messages.filter((m) => m.ruleId === "boundaries/dependencies" || m.fatal).map((m) => m.message);
}

describe("the layer lint", () => {
  it("rejects an upward import, naming the file, both layers and the rule", async () => {
    const errs = await layerErrors("src/model/fake.ts", 'import { train } from "../rl/trainer.js";\nexport const x = train;\n');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^src\/model\/fake\.ts \(layer model\) imports src\/rl\/trainer\.ts \(layer rl\): an import may point only to its own layer or a lower one/);
  });

  it("accepts imports that point down or stay in the layer", async () => {
    const code = [
      'import { Model } from "../model/model.js";',
      'import { UserError } from "../errors.js";',
      'import { mulberry32 } from "../util/rng.js";',
      'import { grpoAdvantages } from "./advantages.js";',
      "export const x = [Model, UserError, mulberry32, grpoAdvantages];",
    ].join("\n");
    expect(await layerErrors("src/rl/fake.ts", code)).toEqual([]);
    expect(await layerErrors("src/util/fake.ts", 'import { UserError } from "../errors.js";\nexport const e = UserError;\n')).toEqual([]);
  });

  it("rejects the cross rules: model → formats, rewards → anything but util, the public entry → cli", async () => {
    const m = await layerErrors("src/model/fake.ts", 'import { readSafetensors } from "../formats/safetensors.js";\nexport const r = readSafetensors;\n');
    expect(m).toEqual([expect.stringMatching(/^src\/model\/fake\.ts \(layer model\) imports src\/formats\/safetensors\.ts \(layer formats\): model must not import formats/)]);
    const r = await layerErrors("src/rewards/fake.ts", 'import { Model } from "../model/model.js";\nexport const m = Model;\n');
    expect(r).toEqual([expect.stringMatching(/\(layer rewards\) imports src\/model\/model\.ts \(layer model\): rewards\/ holds verifiers only/)]);
    const b = await layerErrors("src/rewards/fake.ts", 'import type { BenchSuite } from "../bench/types.js";\nexport type S = BenchSuite;\n');
    expect(b).toEqual([expect.stringMatching(/imports src\/bench\/types\.ts \(layer bench\): an import may point only to its own layer or a lower one/)]);
    const i = await layerErrors("src/index.ts", 'export { run } from "./cli/main.js";\n');
    expect(i).toEqual([expect.stringMatching(/^src\/index\.ts \(layer index\) imports src\/cli\/main\.ts \(layer cli\): the public entry exports the library/)]);
  });

  it("checks the single files too: errors.ts is at the bottom, index.ts on top", async () => {
    expect(await layerErrors("src/errors.ts", 'import { Model } from "./model/model.js";\nexport const m = Model;\n')).toEqual([
      expect.stringMatching(/^src\/errors\.ts \(layer util\) imports src\/model\/model\.ts \(layer model\)/),
    ]);
    expect(await layerErrors("src/errors.ts", 'export * from "./index.js";\n')).toEqual([expect.stringMatching(/imports src\/index\.ts \(layer index\)/)]);
    expect(await layerErrors("src/index.ts", 'export { Model } from "./model/model.js";\nexport { startServer } from "./serve/server.js";\n')).toEqual([]);
  });

  it("keeps the web app to its own folder (types from the server allowed) and fails folders missing from the table", async () => {
    expect(await layerErrors("src/dashboard/web/fake.ts", 'import type { RunInfo } from "../runs.js";\nexport type R = RunInfo;\n')).toEqual([]);
    expect(await layerErrors("src/dashboard/web/fake.ts", 'import { mulberry32 } from "../../util/rng.js";\nexport const u = mulberry32;\n')).toEqual([
      expect.stringMatching(/\(layer dashboard-web\) imports src\/util\/rng\.ts \(layer util\): the dashboard's web app runs in the browser/),
    ]);
    expect(await layerErrors("src/newfolder/fake.ts", 'import { mulberry32 } from "../util/rng.js";\nexport const u = mulberry32;\n')).toEqual([
      expect.stringMatching(/^src\/newfolder\/fake\.ts \(layer unlisted\) imports/),
    ]);
  });

  it("lists every folder of src/ (a new layer is written down before it is used)", async () => {
    const { readdirSync } = await import("node:fs");
    const folders = readdirSync("src", { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `src/${e.name}`);
    const listed = new Set((LAYERS as { folders?: string[] }[]).flatMap((l) => l.folders ?? []));
    expect(folders.filter((f) => !listed.has(f))).toEqual([]);
  });
});
