import js from "@eslint/js";
import boundaries from "eslint-plugin-boundaries";
import tseslint from "typescript-eslint";

/**
 * The layer order, bottom first (docs/layers.md says what each holds and why). A file may import from
 * its own layer or any layer below it; `boundaries/dependencies` below fails anything else, naming the
 * importing file, the imported layer and the rule. A folder of src/ missing from this table is the
 * layer "unlisted", which nothing may import and which may import nothing.
 */
export const LAYERS = [
  { layer: "util", folders: ["src/util"], files: ["src/errors.ts"] },
  { layer: "kernels", folders: ["src/kernels"] },
  { layer: "model", folders: ["src/model"] },
  { layer: "formats", folders: ["src/formats"] },
  { layer: "rewards", folders: ["src/rewards"] },
  { layer: "tasks", folders: ["src/tasks"] },
  { layer: "env", folders: ["src/env"] },
  { layer: "rollout", folders: ["src/rollout"] },
  { layer: "runs", folders: ["src/runs"] },
  { layer: "rl", folders: ["src/rl"] },
  { layer: "eval", folders: ["src/eval"] },
  { layer: "serve", folders: ["src/serve"] },
  { layer: "runner", folders: ["src/runner"] },
  { layer: "dashboard", folders: ["src/dashboard"] },
  { layer: "play", folders: ["src/play"] },
  { layer: "bench", folders: ["src/bench"] },
  { layer: "cli", folders: ["src/cli"] },
  { layer: "index", files: ["src/index.ts"] },
];

/** The rules besides the order (each also in docs/layers.md). */
const EXTRA_RULES = [
  {
    from: "index", to: ["cli"],
    rule: "the public entry exports the library, not the command line",
  },
  {
    from: "model", to: ["formats"],
    rule: "model must not import formats (file formats such as PEFT folders and safetensors live in formats/, which builds on model/)",
  },
  {
    from: "rewards", to: ["kernels", "model", "formats"],
    rule: "rewards/ holds verifiers only: pure functions of text, which import nothing but util/ and errors.ts (benches go in bench/, line adapters in cli/, generators in tasks/)",
  },
];

/** The dashboard's web app runs in the browser (bundled by esbuild): it imports only its own folder, and the server's types. */
const WEB = { type: "dashboard-web", folder: "src/dashboard/web" };

// ***** the boundaries plugin's settings, built from the table *****

const UNLISTED = "unlisted"; // the element type of src/ files no row names (its top-level files get a category)
const fileLayers = LAYERS.filter((l) => l.files);
const allowedBelow = (i) => {
  const below = LAYERS.slice(0, i + 1);
  return [
    { element: { types: { anyOf: below.filter((l) => l.folders).map((l) => l.layer) } } },
    ...below.filter((l) => l.files).map((l) => ({ file: { categories: l.layer } })),
  ];
};
/** Selectors for a layer's files: its folders (elements) and its single files (file categories). */
const selectors = (name) => {
  const l = LAYERS.find((x) => x.layer === name);
  return [...(l.folders ? [{ element: { type: l.layer } }] : []), ...(l.files ? [{ file: { categories: l.layer } }] : [])];
};
const layerOf = (side) => `{{#if ${side}.file.categories}}{{${side}.file.categories}}{{else}}{{${side}.type}}{{/if}}`;
const pathOf = (side) => `{{${side}.elementPath}}/{{${side}.internalPath}}`;
const importing = `${pathOf("from")} (layer ${layerOf("from")}) imports ${pathOf("to")} (layer ${layerOf("to")})`;

const layerSettings = {
  "import/resolver": { typescript: { project: "tsconfig.json" } },
  "boundaries/elements": [
    { type: WEB.type, pattern: WEB.folder, partialMatch: false },
    ...LAYERS.flatMap((l) => (l.folders ?? []).map((f) => ({ type: l.layer, pattern: f, partialMatch: false }))),
    { type: UNLISTED, pattern: "src", partialMatch: false },
  ],
  "boundaries/files": fileLayers.flatMap((l) => l.files.map((f) => ({ category: l.layer, pattern: f }))),
};

const layerRule = [
  "error",
  {
    default: "disallow",
    checkInternals: true, // src/errors.ts and src/index.ts share an element: check imports between them too
    checkUnknownLocals: true, // an import the resolver cannot place fails (a broken resolver must not pass silently)
    message: `${importing}: an import may point only to its own layer or a lower one (the order is LAYERS in eslint.config.js; docs/layers.md)`,
    policies: [
      ...LAYERS.flatMap((l, i) => selectors(l.layer).map((from) => ({ from, allow: { to: allowedBelow(i) } }))),
      { from: { element: { type: WEB.type } }, allow: { to: { element: { type: WEB.type } } } },
      // the /play page (a layer above the dashboard) reuses the dashboard's web components
      { from: { element: { type: "play" } }, allow: { to: { element: { type: WEB.type } } } },
      { from: { element: { type: WEB.type } }, allow: { to: { element: { type: "dashboard" } }, dependency: { kind: "type" } } },
      {
        from: { element: { type: WEB.type } },
        disallow: { to: { element: { type: `!${WEB.type}` } }, dependency: { kind: "value" } },
        message: `${importing}: the dashboard's web app runs in the browser and imports only its own folder (and the server's types) (docs/layers.md)`,
      },
      ...EXTRA_RULES.flatMap((r) =>
        selectors(r.from).map((from) => ({ from, disallow: { to: r.to.flatMap(selectors) }, message: `${importing}: ${r.rule} (docs/layers.md)` })),
      ),
    ],
  },
];

export default tseslint.config(
  { ignores: ["dist/", "build/", "node_modules/", "src/dashboard/web/dist/", "fixtures/", "coverage/", "tmp/", ".dist-*/", "test-artifacts/", "runs/", "models/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly", URL: "readonly", performance: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { boundaries },
    settings: layerSettings,
    rules: { "boundaries/dependencies": layerRule },
  },
  {
    files: ["test/**/*.ts"],
    rules: { "no-console": "error" },
  },
);
