// Code-block extraction and output comparison: a table of cases, each with why.
import { describe, expect, it } from "vitest";
import { extractCode, MAX_RESPONSE_CHARS, outputsMatch } from "../../../src/rewards/code/extract.js";

describe("extractCode", () => {
  it.each([
    ["```python\nprint(1)\n```", "python", "print(1)"], // the plain case
    ["```py\na\n```\ntext\n```python\nb\n```", "python", "b"], // the last block wins
    ["```python\na\n```\n```js\nb\n```", "python", "a"], // the last of the requested language
    ["```js\nx()\n```", "javascript", "x()"], // alias
    ["```Python3 title=x\nz\n```", "python", "z"], // tag is the info string's first word, any case
    ["~~~python\nq\n~~~", "python", "q"], // tilde fences
    ["````python\n```\ninner\n```\n````", "python", "```\ninner\n```"], // longer fence holds a shorter one
    ["```python\nprint(1)\n", "python", null], // unclosed (truncated response): no code
    ["```\nprint(1)\n```", "python", null], // untagged: not claimed as python
    ["no code here", "python", null],
    ["```python\n\n```", "python", null], // empty block
    ["```python\nok\n```\n```python\nnot closed", "python", "ok"], // a truncated last block is ignored
  ] as const)("%j (%s)", (resp, lang, want) => expect(extractCode(resp, lang)).toBe(want));

  it("does not scan responses beyond the size bound", () => {
    expect(extractCode("```python\nx\n```" + " ".repeat(MAX_RESPONSE_CHARS), "python")).toBeNull();
  });
});

describe("outputsMatch", () => {
  it.each([
    ["1 2\n", "1 2", true], // trailing newline
    ["1 2  \n3\t\n\n\n", "1 2\n3", true], // trailing spaces per line and trailing empty lines
    ["1 2\r\n3\r\n", "1 2\n3\n", true], // CRLF
    [" 1 2", "1 2", false], // leading whitespace counts
    ["1  2", "1 2", false], // inner spacing counts
    ["1\n\n2", "1\n2", false], // inner empty lines count
    ["", "", true],
  ])("%j vs %j → %s", (a, b, want) => expect(outputsMatch(a, b)).toBe(want));
});
