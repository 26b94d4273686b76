// The literal parser, pinned against CPython's ast.literal_eval (run on the host on these fixed,
// trusted strings) and against hand-written cases for the JSON extras Python does not accept.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { literalEqual, MAX_DEPTH, parseLiteral, type PyValue } from "../../../src/rewards/code/literal.js";

const PY_CASES = [
  "None", "True", "False", "0", "-17", "+5", "1_000_000", "0x1F", "0o17", "0b101", "123456789012345678901234567890",
  "1.5", "-2.5e-3", "1e10", ".5", "5.", "'a'", '"b"', "'it\\'s'", "'\\n\\t\\x41\\u00e9\\101'", "r'\\n'", "b'ab'",
  "'a' 'b'", "'''x\ny'''", "[]", "()", "(1,)", "(1)", "[1, 2.0, 'x', None]", "{'a': 1, 'b': [1, 2]}", "{1, 2, 3}",
  "{}", "((1, 2), [3, (4,)])", "[1, 2, ]", "{'k': (1, {'z': -0.0})}", "-(1)", "u'é'", "'\\N'",
];

type Tagged = unknown;

function tag(v: PyValue): Tagged {
  switch (v.k) {
    case "none":
      return ["none"];
    case "int":
      return ["int", v.v.toString()];
    case "float":
      return ["float", v.v];
    case "list":
    case "tuple":
    case "set":
      return [v.k, v.k === "set" ? v.v.map(tag).map((x) => JSON.stringify(x)).sort() : v.v.map(tag)];
    case "dict":
      return ["dict", v.v.map(([a, b]) => [tag(a), tag(b)])];
    default:
      return [v.k, v.v];
  }
}

const PYTHON_TAGGER = `
import ast, json, sys
def tag(v):
    if v is None: return ["none"]
    if isinstance(v, bool): return ["bool", v]
    if isinstance(v, int): return ["int", str(v)]
    if isinstance(v, float): return ["float", v]
    if isinstance(v, str): return ["str", v]
    if isinstance(v, bytes): return ["bytes", v.decode("latin-1")]
    if isinstance(v, (list, tuple)): return ["list" if isinstance(v, list) else "tuple", [tag(x) for x in v]]
    if isinstance(v, set): return ["set", sorted(json.dumps(tag(x), separators=(",", ":")) for x in v)]
    if isinstance(v, dict): return ["dict", [[tag(a), tag(b)] for a, b in v.items()]]
    raise TypeError(type(v))
out = []
for s in json.load(sys.stdin):
    try: out.append(tag(ast.literal_eval(s)))
    except Exception: out.append(None)
print(json.dumps(out))
`;

describe("parseLiteral", () => {
  it("agrees with CPython's ast.literal_eval", () => {
    const r = spawnSync("/usr/bin/python3", ["-c", PYTHON_TAGGER], { input: JSON.stringify(PY_CASES), encoding: "utf8" });
    expect(r.status).toBe(0);
    const want = JSON.parse(r.stdout) as Tagged[];
    // Sets are compared as sorted compact JSON of their tagged members, on both sides.
    const ours = PY_CASES.map((s) => {
      const v = parseLiteral(s);
      return v === null ? null : tag(v);
    });
    for (let i = 0; i < PY_CASES.length; i++) expect([PY_CASES[i], ours[i]]).toEqual([PY_CASES[i], want[i]]);
  });

  it.each([
    ["true", { k: "bool", v: true }], // JSON spellings
    ["null", { k: "none" }],
    ["-Infinity", { k: "float", v: -Infinity }],
    ['"\\u00e9\\/"', { k: "str", v: "é/" }],
    ["set()", { k: "set", v: [] }],
  ])("accepts the JSON extra %s", (text, want) => expect(parseLiteral(text)).toEqual(want));

  it.each([
    ["__import__('os')"], // a call: never evaluated
    ["1 + 2"],
    ["1j"],
    ["[1, 2"],
    ["'unterminated"],
    ["[".repeat(MAX_DEPTH + 5) + "]".repeat(MAX_DEPTH + 5)], // too deep
    ["9".repeat(5000)], // more digits than Python allows
    ["x".repeat(200_000)], // too long
  ])("rejects %#", (text) => expect(parseLiteral(text)).toBeNull());
});

describe("literalEqual", () => {
  const eq = (a: string, b: string) => literalEqual(parseLiteral(a)!, parseLiteral(b)!);
  it.each([
    ["[1, 2]", "(1, 2)", true], // lists ≡ tuples (JSON has no tuples)
    ["1", "1.0", true],
    ["0.1 + 0", "0.1", false], // (left side does not parse: guarded below)
    ["{'a': 1, 'b': 2}", '{"b": 2, "a": 1}', true],
    ["{1, 2}", "{2, 1}", true],
    ["True", "1", false], // booleans are not numbers here
    ["0.30000000000000004", "0.3", true], // within relTol 1e-9
    ["0.31", "0.3", false],
    ["'a'", "b'a'", false],
    ["None", "null", true],
    ["[1, [2, 3]]", "[1, [2, 4]]", false],
  ])("%s vs %s → %s", (a, b, want) => {
    if (parseLiteral(a) === null) return expect(want).toBe(false);
    expect(eq(a, b)).toBe(want);
  });
});
