/**
 * One config schema per subsystem drives YAML loading, command-line flags, validation messages and
 * `--help` (STYLE.md rule 6: documented once, so it cannot drift).
 *
 * Naming (one scheme everywhere): every field has ONE flat kebab-case key, `<section prefix><field in
 * kebab-case>` — e.g. the rl section (prefix "") field `clipHigh` is `clip-high`, a lora section
 * with prefix "lora-" and field `rank` is `lora-rank`. The same key is the flag (`--clip-high 0.28`,
 * `--clip-high=0.28`), the YAML key (`clip-high: 0.28`, a flat mapping) and the key in a run's
 * config.json, so `--config runs/x/config.json` reproduces a run. Booleans: `--flag`, `--no-flag`,
 * `--flag false`. Nullable fields: `none` or `null`. Lists: comma-separated on the command line.
 *
 * Precedence: schema defaults < the section's preset (e.g. `algorithm: dapo`) < YAML < flags.
 *
 * A field is a zod schema with `.default(…)` and `.meta({ description, source? })`; cross-field
 * invariants are the section's `check` (returning messages that name the keys).
 */
import { LineCounter, parseDocument, isMap, isScalar } from "yaml";
import { z } from "zod";
import { UserError } from "../errors.js";

export interface FieldMeta {
  description: string;
  /** Where the default (or the recommended value) comes from: a paper or a public trainer. */
  source?: string;
  /**
   * A list given by repeating the flag (`--stop A --stop B`), each value taken whole (commas
   * included); in YAML a list or one string. Only for list fields.
   */
  repeatable?: boolean;
}

export interface Preset<V> {
  description: string;
  source: string;
  values: Partial<V>;
}

export interface Section<S extends z.ZodObject = z.ZodObject> {
  title: string;
  /** Prepended to each field's kebab-case name to form its key ("" or e.g. "lora-"). */
  prefix: string;
  schema: S;
  /** Cross-field invariants; each message names the keys involved. */
  check?(v: z.output<S>): string[];
  /** A field (its flat key) whose value names a preset that sets other fields' defaults. */
  presets?: { key: string; table: Record<string, Preset<z.output<S>>> };
}

export type Sections = Record<string, Section>;
export type Resolved<T extends Sections> = { [K in keyof T]: z.output<T[K]["schema"]> };

export interface FieldInfo {
  key: string;
  section: string;
  field: string;
  schema: z.ZodType;
  meta: FieldMeta;
  defaultValue: unknown;
  /** The bare type under default/nullable/optional wrappers, and whether null is allowed. */
  kind: "number" | "integer" | "boolean" | "enum" | "string" | "list";
  nullable: boolean;
  options: readonly string[];
  allowed: string;
}

/** A value's origin, for messages: `--clip-high`, `config.yaml:3`, `preset dapo`. */
type Origin = string;
export interface Given {
  value: unknown;
  origin: Origin;
}

export const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

function unwrap(schema: z.ZodType): { inner: z.ZodType; nullable: boolean; defaultValue: unknown } {
  let s = schema as z.ZodType;
  let nullable = false;
  let defaultValue: unknown = undefined;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === "default") defaultValue = def.defaultValue;
    if (def.type === "nullable") nullable = true;
    if ((def.type === "default" || def.type === "nullable" || def.type === "optional") && def.innerType) s = def.innerType;
    else return { inner: s, nullable, defaultValue };
  }
}

/** "number in [0, 1)", "integer ≥ 1", "one of a | b", each "or none" when nullable. */
function describeAllowed(inner: z.ZodType, nullable: boolean): { kind: FieldInfo["kind"]; options: readonly string[]; allowed: string } {
  const js = z.toJSONSchema(inner) as { type?: string; enum?: string[]; minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number; items?: { type?: string; enum?: string[] } };
  const orNone = nullable ? " (or none)" : "";
  if (js.enum) return { kind: "enum", options: js.enum, allowed: `one of ${js.enum.join(" | ")}${orNone}` };
  if (js.type === "number" || js.type === "integer") {
    const parts: string[] = [];
    if (js.minimum !== undefined && js.minimum > -Number.MAX_SAFE_INTEGER) parts.push(`≥ ${js.minimum}`);
    if (js.exclusiveMinimum !== undefined) parts.push(`> ${js.exclusiveMinimum}`);
    if (js.maximum !== undefined && js.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${js.maximum}`);
    if (js.exclusiveMaximum !== undefined) parts.push(`< ${js.exclusiveMaximum}`);
    const kind = js.type === "integer" ? "integer" : "number";
    return { kind, options: [], allowed: `${kind}${parts.length ? " " + parts.join(", ") : ""}${orNone}` };
  }
  if (js.type === "boolean") return { kind: "boolean", options: [], allowed: "true | false" };
  if (js.type === "array") return { kind: "list", options: [], allowed: `comma-separated list${js.items?.enum ? " of " + js.items.enum.join(" | ") : ""}${orNone}` };
  return { kind: "string", options: [], allowed: `text${orNone}` };
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** Word-wraps text at 100 columns with the given indent. */
function wrap(text: string, indent: number, width = 100): string[] {
  const pad = " ".repeat(indent);
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && pad.length + line.length + 1 + word.length > width) {
      out.push(pad + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(pad + line);
  return out;
}

const fmt = (v: unknown): string => (v === null ? "none" : Array.isArray(v) ? (v.length > 0 ? v.join(",") : "(empty)") : typeof v === "string" ? v : JSON.stringify(v));

export interface ParsedArgs {
  /** key → raw string (true/false for a bare boolean flag; every value of a repeatable flag). */
  flags: Map<string, string | boolean | string[]>;
  positionals: string[];
  configFile: string | null;
  help: boolean;
}

export class ConfigSpec<T extends Sections> {
  readonly fields = new Map<string, FieldInfo>();

  constructor(readonly sections: T) {
    for (const [section, sec] of Object.entries(sections)) {
      for (const [field, schema] of Object.entries(sec.schema.shape as Record<string, z.ZodType>)) {
        const key = sec.prefix + kebab(field);
        if (this.fields.has(key) || key === "config" || key === "help") throw new Error(`config key '${key}' is defined twice (section ${section})`);
        const meta = schema.meta() as FieldMeta | undefined;
        if (!meta?.description) throw new Error(`config field ${section}.${field} has no description`);
        const { inner, nullable, defaultValue } = unwrap(schema);
        if (defaultValue === undefined) throw new Error(`config field ${section}.${field} has no default`);
        const allowed = describeAllowed(inner, nullable);
        if (meta.repeatable) {
          if (allowed.kind !== "list") throw new Error(`config field ${section}.${field} is repeatable but not a list`);
          allowed.allowed = "text; repeat the flag for more than one";
        }
        this.fields.set(key, { key, section, field, schema, meta, defaultValue, nullable, ...allowed });
      }
    }
  }

  private unknownKey(key: string, where: string): string {
    const near = [...this.fields.keys()].map((k) => [k, levenshtein(k, key)] as const).sort((a, b) => a[1] - b[1])[0];
    const hint = near && near[1] <= Math.max(2, key.length / 3) ? `; did you mean '${near[0]}'?` : "";
    return `${where}: unknown key '${key}'${hint} (aha <command> --help lists every key)`;
  }

  /** Splits argv into known flags (raw strings), positionals, --config and --help. Throws on unknown flags. */
  parseArgs(argv: readonly string[]): ParsedArgs {
    const out: ParsedArgs = { flags: new Map(), positionals: [], configFile: null, help: false };
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === "--help" || a === "-h") {
        out.help = true;
        continue;
      }
      if (!a.startsWith("--")) {
        out.positionals.push(a);
        continue;
      }
      const eq = a.indexOf("=");
      let key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      let value: string | boolean | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (key === "config") {
        const v = value ?? argv[++i];
        if (v === undefined) throw new UserError("--config needs a file name");
        out.configFile = v;
        continue;
      }
      if (!this.fields.has(key) && key.startsWith("no-") && this.fields.get(key.slice(3))?.kind === "boolean" && value === undefined) {
        key = key.slice(3);
        value = false;
      }
      const f = this.fields.get(key);
      if (!f) throw new UserError(this.unknownKey(key, `--${key}`));
      if (value === undefined) {
        const next = argv[i + 1];
        if (f.kind === "boolean" && (next === undefined || !/^(true|false|yes|no|1|0)$/i.test(next))) value = true;
        else if (next === undefined) throw new UserError(`--${key} needs a value (${f.allowed})`);
        else value = argv[++i]!;
      }
      if (f.meta.repeatable && typeof value === "string") {
        const before = out.flags.get(key);
        out.flags.set(key, [...(Array.isArray(before) ? before : []), value]);
      } else out.flags.set(key, value);
    }
    return out;
  }

  /** A raw command-line string → a typed value (the schema then checks ranges). */
  private coerce(f: FieldInfo, raw: string | boolean | string[]): unknown {
    if (typeof raw === "boolean" || Array.isArray(raw)) return raw;
    const s = raw.trim();
    if (f.nullable && /^(none|null)$/i.test(s)) return null;
    switch (f.kind) {
      case "number":
      case "integer": {
        const n = s === "" ? Number.NaN : Number(s);
        return Number.isNaN(n) ? raw : n;
      }
      case "boolean":
        if (/^(true|yes|1)$/i.test(s)) return true;
        if (/^(false|no|0)$/i.test(s)) return false;
        return raw;
      case "list":
        if (f.meta.repeatable) return [raw];
        return s === "" ? [] : s.split(",").map((x) => x.trim());
      default:
        return raw;
    }
  }

  /** Parses YAML text (a flat mapping of keys) with line numbers in every message. */
  parseYaml(text: string, file: string): Map<string, Given> {
    const { doc, lc } = parseYamlDocument(text, file);
    const out = new Map<string, Given>();
    if (doc.contents === null) return out;
    if (!isMap(doc.contents)) throw new UserError(`${file}: expected a mapping of keys to values (e.g. '${this.example()}')`);
    const errors: string[] = [];
    for (const item of doc.contents.items) {
      const keyNode = item.key;
      const line = isScalar(keyNode) && keyNode.range ? lc.linePos(keyNode.range[0]).line : 0;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const where = `${file}:${line}`;
      const f = this.fields.get(key);
      if (!f) {
        errors.push(this.unknownKey(key, where));
        continue;
      }
      let value: unknown = (item.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null;
      if (typeof value === "string" && f.kind !== "string" && f.kind !== "enum") value = this.coerce(f, value);
      out.set(key, { value, origin: where });
    }
    if (errors.length) throw new UserError(errors.join("\n"));
    return out;
  }

  /**
   * A settings object (a library call's equivalent of a YAML file) → given values. Keys are the flat
   * keys (`clip-high`) or their camelCase (`clipHigh`); strings are read as on the command line
   * ("0.28", "none", "a,b"). Unknown keys are errors naming the key (with a "did you mean").
   */
  fromObject(obj: Record<string, unknown>, where = "settings"): Map<string, Given> {
    const out = new Map<string, Given>();
    const errors: string[] = [];
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const key = this.fields.has(k) ? k : kebab(k);
      const f = this.fields.get(key);
      if (!f) {
        errors.push(this.unknownKey(k, `${where}.${k}`));
        continue;
      }
      const value = typeof v === "string" && f.kind !== "string" && f.kind !== "enum" ? this.coerce(f, v) : v;
      out.set(key, { value, origin: `${where}.${k}` });
    }
    if (errors.length) throw new UserError(errors.join("\n"), undefined, "AHA_BAD_CONFIG");
    return out;
  }

  /** Defaults < preset < YAML < flags → the typed, validated config; every problem is reported at once. */
  resolve(sources: { yaml?: Map<string, Given>; flags?: ParsedArgs["flags"] } = {}): Resolved<T> {
    const given = new Map<string, Given>(sources.yaml ?? []);
    for (const [key, raw] of sources.flags ?? []) given.set(key, { value: this.coerce(this.fields.get(key)!, raw), origin: `--${key}` });
    const errors: string[] = [];
    const result: Record<string, unknown> = {};
    for (const [name, sec] of Object.entries(this.sections)) {
      const obj: Record<string, unknown> = {};
      const origin: Record<string, string> = {};
      if (sec.presets) {
        const p = given.get(sec.presets.key);
        const pname = typeof p?.value === "string" ? p.value : (this.fields.get(sec.presets.key)!.defaultValue as string);
        const preset = sec.presets.table[pname];
        if (preset) for (const [field, v] of Object.entries(preset.values)) {
          obj[field] = v;
          origin[field] = `preset ${pname}`;
        }
      }
      for (const f of this.fields.values()) {
        if (f.section !== name) continue;
        const g = given.get(f.key);
        if (g) {
          obj[f.field] = g.value;
          origin[f.field] = g.origin;
        }
      }
      const parsed = sec.schema.safeParse(obj);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const field = String(issue.path[0] ?? "");
          const f = [...this.fields.values()].find((x) => x.section === name && x.field === field);
          if (!f) {
            errors.push(issue.message);
            continue;
          }
          errors.push(`${origin[field] ?? f.key}: ${f.key} = ${fmt(obj[field])} is not allowed (${issue.message}); allowed: ${f.allowed}`);
        }
        continue;
      }
      for (const msg of sec.check?.(parsed.data) ?? []) errors.push(msg);
      result[name] = parsed.data;
    }
    if (errors.length) throw new UserError(errors.join("\n"), undefined, "AHA_BAD_CONFIG");
    return result as Resolved<T>;
  }

  /** The --config FILE: read by `readFile`, then `parseYaml`. */
  readYaml(file: string, readFile: (path: string) => string): Map<string, Given> {
    let text: string;
    try {
      text = readFile(file);
    } catch (e) {
      throw new UserError(`--config ${file}: cannot read the file (${(e as Error).message})`);
    }
    return this.parseYaml(text, file);
  }

  /** argv (with an optional --config FILE read by `readFile`) → resolved config, positionals, help flag. */
  fromArgv(argv: readonly string[], readFile: (path: string) => string): { config: Resolved<T>; positionals: string[]; help: boolean } {
    const args = this.parseArgs(argv);
    if (args.help) return { config: undefined as unknown as Resolved<T>, positionals: args.positionals, help: true };
    const yaml = args.configFile !== null ? this.readYaml(args.configFile, readFile) : undefined;
    return { config: this.resolve({ ...(yaml ? { yaml } : {}), flags: args.flags }), positionals: args.positionals, help: false };
  }

  /** The resolved config as flat keys (what config.json holds; loadable again with --config). */
  toFlat(config: Resolved<T>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.fields.values()) out[f.key] = (config[f.section] as Record<string, unknown>)[f.field];
    return out;
  }

  /** A YAML line for messages: the first key with a numeric default, e.g. 'clip-high: 0.2'. */
  private example(): string {
    const f = [...this.fields.values()].find((x) => typeof x.defaultValue === "number");
    return f ? `${f.key}: ${fmt(f.defaultValue)}` : "key: value";
  }

  /** `--help` text: every key with its type/allowed values, default, description and source; then presets. */
  help(usage: string): string {
    const presets = Object.values(this.sections).some((s) => s.presets);
    const lines = [
      usage,
      "",
      `Every option is also a key of a YAML file given with --config FILE (flat: '${this.example()}');`,
      `flags override the file. Precedence: defaults < ${presets ? "preset < " : ""}--config file < flags.`,
      "",
    ];
    for (const [name, sec] of Object.entries(this.sections)) {
      lines.push(`${sec.title}:`);
      const byPreset = new Set(Object.values(sec.presets?.table ?? {}).flatMap((p) => Object.keys(p.values)));
      for (const f of this.fields.values()) {
        if (f.section !== name) continue;
        const arg = f.kind === "boolean" ? "" : f.kind === "enum" ? ` <${f.options.join("|")}>` : f.meta.repeatable ? " <text> (repeatable)" : ` <${f.kind}>`;
        const preset = byPreset.has(f.field) ? `; set by --${sec.presets!.key}` : "";
        lines.push(`  --${f.key}${arg}   (default: ${fmt(f.defaultValue)}${preset})`);
        lines.push(...wrap(`${f.meta.description}${f.kind === "enum" ? "" : ` Allowed: ${f.allowed}.`}`, 6));
        if (f.meta.source) lines.push(...wrap(`Source: ${f.meta.source}`, 6));
      }
      if (sec.presets) {
        lines.push("", `  Presets (--${sec.presets.key} NAME sets these; explicit keys override them):`);
        for (const [pname, p] of Object.entries(sec.presets.table)) {
          const settings = Object.entries(p.values).map(([k, v]) => `${sec.prefix}${kebab(k)}=${fmt(v)}`).join(" ");
          lines.push(`    ${pname.padEnd(12)} ${p.description}`, ...wrap(settings, 6), ...wrap(`Source: ${p.source}`, 6));
        }
      }
      lines.push("");
    }
    return lines.join("\n");
  }
}

/** YAML text → its document and line counter; a syntax error is a UserError naming file:line:col. */
export function parseYamlDocument(text: string, file: string): { doc: ReturnType<typeof parseDocument>; lc: LineCounter } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new UserError(`${file}:${pos.line}:${pos.col}: YAML error: ${e.message.split("\n")[0]}`);
  }
  return { doc, lc };
}

export function defineConfig<T extends Sections>(sections: T): ConfigSpec<T> {
  return new ConfigSpec(sections);
}

/** A field: schema with its default and metadata in one call. */
export function field<S extends z.ZodType>(schema: S, defaultValue: z.output<S>, meta: FieldMeta): z.ZodDefault<S> {
  return schema.default(defaultValue as never).meta(meta as unknown as Record<string, unknown>) as z.ZodDefault<S>;
}

/** `field` with the description (and source) as arguments: `setting(z.int().min(1), 8, "Samples per prompt.", "GRPO paper")`. */
export function setting<S extends z.ZodType>(schema: S, defaultValue: z.output<S>, description: string, source?: string): z.ZodDefault<S> {
  return field(schema, defaultValue, source ? { description, source } : { description });
}
