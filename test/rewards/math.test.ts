/**
 * verifyMath: tables of cases by category, each with the reason it must hold. Expected values are
 * the mathematically right verdicts (hand-checked), written from the behaviour of the public graders
 * (Math-Verify, the oat/Dr. GRPO grader, Qwen2.5-Math's grader, PRM800K's grader) and their known
 * false positives — never from our own earlier output.
 *
 * A case is [gold, answer, expected, why]; `answer` is wrapped as \boxed{answer} unless it already
 * contains \boxed or <answer> (then it is the whole response).
 */
import { describe, expect, it } from "vitest";
import { verifyMath } from "../../src/rewards/math/index.js";

type Case = [gold: string, answer: string, expected: boolean, why: string];

function response(answer: string): string {
  return answer.includes("\\boxed") || answer.includes("<answer>") || answer.includes("\\fbox") ? answer : `The final answer is $\\boxed{${answer}}$.`;
}

export const CATEGORIES: Record<string, Case[]> = {
  integers: [
    ["7", "7", true, "identical"],
    ["7", "8", false, "different integer"],
    ["0", "0", true, "zero"],
    ["007", "7", true, "leading zeros do not change the value"],
    ["12", "12.0", true, "a trailing .0 is the same number"],
    ["12", "+12", true, "explicit plus sign"],
    ["100", "10^2", true, "a power that evaluates to the integer"],
    ["2", "4/2", true, "an integer written as an exact quotient"],
    ["123456789012345678901234567890", "123456789012345678901234567890", true, "beyond double precision: compared exactly"],
    ["123456789012345678901234567890", "123456789012345678901234567891", false, "differs in the last digit only (doubles would round both to the same value)"],
  ],
  decimals: [
    ["0.5", "0.5", true, "identical"],
    ["0.5", ".5", true, "no leading zero"],
    ["0.5", "0.50", true, "trailing zero"],
    ["3.14", "3.14", true, "identical"],
    ["3.14", "3.15", false, "different in the second decimal"],
    ["0.1", "0.10000001", true, "decimals within 1e-6 relative are the same reported value"],
    ["0.1", "0.1001", false, "1e-3 relative is a different value"],
    ["2.5", "\\frac{5}{2}", true, "decimal vs fraction, exact"],
    ["0.125", "1/8", true, "exact binary fraction"],
    ["1.5", "1.05", false, "digits shifted"],
  ],
  fractions: [
    ["\\frac{1}{2}", "\\frac{1}{2}", true, "identical"],
    ["\\frac{1}{2}", "\\dfrac{1}{2}", true, "\\dfrac is \\frac"],
    ["\\frac{1}{2}", "\\tfrac{1}{2}", true, "\\tfrac is \\frac"],
    ["\\frac{1}{2}", "1/2", true, "slash fraction"],
    ["\\frac{1}{2}", "\\frac12", true, "unbraced digit arguments"],
    ["\\frac{1}{2}", "\\frac{2}{4}", true, "unreduced fraction"],
    ["\\frac{1}{2}", "0.5", true, "decimal equivalent"],
    ["\\frac{10}{9}", "10/9", true, "improper fraction"],
    ["-\\frac{10}{9}", "-\\frac{10}{9}", true, "negative fraction"],
    ["\\frac{1}{3}", "\\frac{1}{4}", false, "different fraction"],
    ["\\frac{1}{3}", "\\frac{3}{1}", false, "inverted fraction"],
    ["\\frac{14}{3}", "4\\frac{2}{3}", true, "mixed form of the same value"],
    ["\\frac{3}{56}", "\\frac{6}{112}", true, "scaled numerator and denominator"],
    ["\\frac{1}{3}", "\\frac3{9}", true, "half-braced \\frac"],
  ],
  mixedNumbers: [
    ["\\frac{7}{2}", "3\\frac{1}{2}", true, "3 1/2 is 7/2, not 3·1/2"],
    ["3\\frac{1}{2}", "3.5", true, "mixed number vs decimal"],
    ["-\\frac{7}{2}", "-3\\frac{1}{2}", true, "the sign applies to the whole mixed number"],
    ["\\frac{3}{2}", "3\\frac{1}{2}", false, "a mixed number is not a product"],
    ["2\\frac{3}{4}", "\\frac{11}{4}", true, "gold as mixed number"],
    ["2\\frac{3}{4}", "2.75", true, "gold as mixed number vs decimal"],
  ],
  negatives: [
    ["-5", "-5", true, "identical"],
    ["-5", "5", false, "sign matters"],
    ["-5", "−5", true, "unicode minus sign"],
    ["-5", "-(5)", true, "parenthesised"],
    ["-\\frac{1}{2}", "\\frac{-1}{2}", true, "sign in the numerator"],
    ["-\\frac{1}{2}", "\\frac{1}{-2}", true, "sign in the denominator"],
    ["-2", "--2", false, "double negation is +2"],
  ],
  thousands: [
    ["1000", "1,000", true, "comma separator"],
    ["1000", "1{,}000", true, "braced comma separator"],
    ["1000", "1\\,000", true, "thin-space separator"],
    ["7425000", "7,425,000", true, "several groups"],
    ["12000023", "12,\\!000,\\!023", true, "comma with negative thin space"],
    ["14916", "14{,}916", true, "as in MATH solutions"],
    ["1000", "1 000", true, "space separator, whole answer a number"],
    ["16386.20", "\\$16,\\!386.20", true, "dollar sign, separator and cents"],
    ["1000", "1,001", false, "a separated number with a different value"],
    ["1000.5", "1,000.5", true, "separator with decimals"],
  ],
  scientific: [
    ["1500", "1.5\\times 10^{3}", true, "\\times 10^n"],
    ["1500", "1.5 \\cdot 10^3", true, "\\cdot 10^n"],
    ["0.00015", "1.5\\times10^{-4}", true, "negative exponent"],
    ["1500", "1.5e3", true, "e notation"],
    ["1500", "1.5\\times 10^{4}", false, "exponent off by one"],
    ["6.02\\times 10^{23}", "602000000000000000000000", true, "large exact value"],
    ["2^{10}", "1024", true, "power of two"],
  ],
  percentages: [
    ["20\\%", "20\\%", true, "identical"],
    ["20\\%", "20", true, "percent sign omitted"],
    ["20\\%", "0.2", true, "as a fraction of one"],
    ["20\\%", "\\frac{1}{5}", true, "as a fraction"],
    ["20", "20\\%", true, "answer adds a percent sign to the right number"],
    ["20", "0.2", false, "a gold without % never equals its hundredth"],
    ["0.2", "20\\%", true, "20% is 0.2"],
    ["28\\%", "28 \\%", true, "space before the sign"],
    ["28\\%", "28%", true, "bare percent sign"],
    ["20\\%", "2\\%", false, "different percentage"],
    ["12.5\\%", "\\frac{1}{8}", true, "decimal percentage as a fraction"],
  ],
  unitsText: [
    ["5", "5\\text{ cm}", true, "unit in \\text"],
    ["5", "5 \\text{cm}", true, "unit in \\text without leading space"],
    ["15", "15\\mbox{ cm}^2", true, "squared unit in \\mbox"],
    ["\\frac{1}{3}", "\\frac{1}{3} \\text{meters}", true, "unit word after a fraction"],
    ["\\frac{1}{3}", "\\frac{1}{3} \\textbf{meters}", true, "unit in \\textbf"],
    ["18.90", "\\$18.90", true, "dollar sign"],
    ["18.90", "18.90 \\text{ dollars}", true, "currency word"],
    ["5", "5a", false, "a variable is never a unit"],
    ["5", "5 \\text{ cm}^3", true, "cubic unit"],
    ["\\text{Evelyn}", "\\text{Evelyn}", true, "text answer"],
    ["\\text{Evelyn}", "Evelyn", true, "text answer without \\text"],
    ["\\text{Evelyn}", "\\text{Carla}", false, "different name"],
    ["\\text{(C)}", "C", true, "multiple choice letter"],
    ["\\text{(C)}", "(C)", true, "multiple choice in parentheses"],
    ["\\text{(C)}", "\\textbf{(C)}", true, "multiple choice in bold"],
    ["\\text{(C)}", "D", false, "wrong choice"],
    ["5", "5 \\text{ units}", true, "the word units"],
  ],
  degrees: [
    ["30", "30^\\circ", true, "degree sign"],
    ["30^\\circ", "30", true, "gold with degree sign"],
    ["90^\\circ", "90^{\\circ}", true, "braced \\circ"],
    ["30^\\circ", "30°", true, "unicode degree sign"],
    ["30^\\circ", "60^\\circ", false, "different angle"],
    ["45", "45 \\text{ degrees}", true, "the word degrees"],
  ],
  radicalsPi: [
    ["2\\sqrt{2}", "\\sqrt{8}", true, "square factor pulled out"],
    ["3\\sqrt{13}", "\\sqrt{117}", true, "MATH distance answer"],
    ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", true, "rationalised denominator"],
    ["\\sqrt{2}-1", "\\frac{1}{1+\\sqrt{2}}", true, "conjugate rationalisation"],
    ["\\sqrt{3}", "\\sqrt3", true, "unbraced argument"],
    ["\\sqrt{3}", "3^{1/2}", true, "fractional power"],
    ["\\sqrt[3]{8}", "2", true, "perfect cube root"],
    ["\\sqrt{2}", "1.414", false, "a rounded decimal is not the surd (relative error 1.5e-4)"],
    ["\\pi", "\\pi", true, "identical"],
    ["\\frac{\\pi}{2}", "\\frac{3\\pi}{6}", true, "scaled π"],
    ["2\\pi", "\\pi \\cdot 2", true, "commuted product"],
    ["\\pi", "3.14", false, "π is not 3.14"],
    ["\\pi", "3.1415926536", true, "π to 11 significant digits (within 1e-6 relative)"],
    ["4\\pi", "4", false, "dropped π"],
    ["\\sqrt{2}+\\sqrt{3}", "\\sqrt{3}+\\sqrt{2}", true, "sum of surds in another order"],
    ["\\sqrt{2}+\\sqrt{3}", "\\sqrt{5}", false, "√2+√3 ≠ √5"],
    ["\\frac{5\\sqrt{42}}{27}", "\\frac{5}{27}\\sqrt{42}", true, "coefficient outside"],
    ["\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", true, "nested radical, numeric fallback"],
    ["1\\sqrt{19}", "1", false, "dropped radical"],
    ["2", "\\frac{1+\\sqrt{5}}{2}", false, "golden ratio is not 2"],
    ["6\\sqrt{3}\\pi", "\\sqrt{108}\\pi", true, "radical times π"],
  ],
  symbolic: [
    ["2x+2", "2(x+1)", true, "factored"],
    ["x^2-1", "(x-1)(x+1)", true, "difference of squares"],
    ["x^2+2x+1", "(x+1)^2", true, "perfect square"],
    ["\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", true, "split fraction"],
    ["\\tan^2(y)+1", "\\sec^2(y)", true, "trigonometric identity (numeric)"],
    ["\\sin^2 x + \\cos^2 x", "1", true, "Pythagorean identity"],
    ["x+2n+1", "x+1", false, "a missing term"],
    ["(a+5)(b+2)", "(+5)(b+2)", false, "a missing variable"],
    ["2-2p", "2-2p", true, "identical"],
    ["2-2p", "-2p+2", true, "reordered"],
    ["x^3", "x^2", false, "different power"],
    ["\\frac{1}{3x^{2/3}}", "\\frac{1}{3\\sqrt[3]{x}^2}", true, "fractional power vs root"],
    ["e^{2}", "e^2", true, "Euler's number"],
    ["\\ln 8", "3\\ln 2", true, "log rule (numeric)"],
    ["\\log_2 8", "3", true, "log with a base"],
    ["2x", "2y", false, "different variable"],
    ["ab", "ba", true, "commuted implicit product"],
    ["\\binom{5}{2}", "10", true, "binomial coefficient"],
    ["5!", "120", true, "factorial"],
    ["|{-3}|", "3", true, "absolute value"],
  ],
  equations: [
    ["3", "x=3", true, "answer given as an assignment"],
    ["x=3", "3", true, "gold given as an assignment"],
    ["x=3", "x=3", true, "identical"],
    ["x=3", "y=3", false, "different variable"],
    ["y=2x+1", "2x-y+1=0", true, "same line, rearranged"],
    ["y=2x+1", "y=2x-1", false, "different line"],
    ["34x+45y-20z+100=0", "-34x-45y+20z-100=0", true, "equation multiplied by −1"],
    ["y=2x+1", "2y=4x+2", true, "equation multiplied by 2"],
    ["\\frac{1}{3}", "k = \\frac{1}{3}", true, "the value after ="],
    ["y = -\\frac{1}{2}x + 3", "x + 2y = 6", true, "slope form vs standard form"],
    ["x^2+y^2=25", "x^2+y^2=5", false, "different radius"],
    ["5", "2+3=5", true, "a computation ending in the value"],
  ],
  inequalities: [
    ["x \\ge 5", "x \\ge 5", true, "identical"],
    ["x \\ge 5", "x \\le 5", false, "direction matters"],
    ["x \\ge 5", "5 \\le x", true, "mirrored"],
    ["x \\ge 5", "x > 5", false, "strictness matters"],
    ["x \\ge 5", "[5, \\infty)", true, "as an interval"],
    ["x > 5", "(5, \\infty)", true, "strict as an open interval"],
    ["x > 5", "[5, \\infty)", false, "strict vs closed"],
    ["-1 < x \\le 2", "(-1, 2]", true, "chain as an interval"],
    ["-1 < x \\le 2", "x \\in (-1, 2]", true, "membership"],
    ["x \\geq 5", "x \\geqslant 5", true, "\\geqslant"],
    ["x+y > 2", "y > 2-x", true, "two variables, rearranged"],
    ["x+y > 2", "y < 2-x", false, "two variables, reversed"],
    ["x \\ne 3", "(-\\infty, 3) \\cup (3, \\infty)", true, "≠ as a union"],
    ["x < 5", "x ≤ 5", false, "unicode ≤, strictness"],
  ],
  intervals: [
    ["[0,1)", "[0,1)", true, "identical"],
    ["[0,1)", "[0,1]", false, "bracket type matters"],
    ["(0,9)", "[0,9)", false, "left bracket matters"],
    ["[0,9)", "[0,1)", false, "different endpoint"],
    ["(-\\infty, 3]", "\\left(-\\infty, 3\\right]", true, "with \\left/\\right"],
    ["(\\frac{3}{5},\\frac{8}{3}]", "(0.6,\\frac{8}{3}]", true, "equal endpoints in another form"],
    ["(-\\infty,-3] \\cup [2,\\infty)", "[2,\\infty) \\cup (-\\infty,-3]", true, "union in another order"],
    ["[-3,2]", "(-\\infty,-3] \\cup [2,\\infty)", false, "complement"],
    ["(-\\infty, \\infty)", "(-\\infty,\\infty)", true, "all reals"],
    ["1", "-[0,1)", false, "a number is not an interval"],
  ],
  setsTuples: [
    ["\\{1,2,3\\}", "\\{3,2,1\\}", true, "sets are unordered"],
    ["\\{1,2,3\\}", "\\{1,2\\}", false, "missing element"],
    ["(1,2,3)", "(1,2,3)", true, "tuple identical"],
    ["(1,2,3)", "(3,2,1)", false, "tuples are ordered"],
    ["(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", true, "polar coordinates"],
    ["(1,\\frac{9}{2})", "(1,4.5)", true, "tuple with equal entries"],
    ["(7,6)", "(6,7)", false, "swapped pair"],
    ["\\left(\\frac{4}{5},\\frac{1}{5}\\right)", "\\left( \\frac{4}{5}, \\frac{1}{5} \\right)", true, "spacing"],
    ["\\emptyset", "\\varnothing", true, "empty set notations"],
    ["\\{1,2\\}", "\\{1,2,2\\}", false, "different number of elements listed"],
  ],
  matrices: [
    ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", true, "identical"],
    ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", true, "bmatrix vs pmatrix"],
    ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", false, "transposed"],
    ["\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{pmatrix}0&3\\\\0&-1\\end{pmatrix}", true, "spacing"],
    ["\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}", "\\begin{pmatrix}-1.75&-2\\\\4&0.25\\end{pmatrix}", true, "entries in decimal"],
    ["\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1&2\\end{pmatrix}", false, "column vs row"],
    ["\\begin{pmatrix}3\\\\2\\\\-6\\end{pmatrix}", "\\begin{pmatrix}3\\\\2\\\\-6\\end{pmatrix}", true, "column vector"],
  ],
  multipleAnswers: [
    ["1, 2", "2, 1", true, "solutions in any order"],
    ["-2,1", "1,-2", true, "negative solution, reordered"],
    ["1, 2", "1", false, "a missing solution"],
    ["1, 2", "1, 2, 3", false, "an extra solution"],
    ["12 \\text{ and } 13", "12 \\text{ and } 13", true, "joined by 'and'"],
    ["1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}", true, "± expanded"],
    ["1+\\sqrt{2}, 1-\\sqrt{2}", "1 \\pm \\sqrt{2}", true, "± in the answer"],
    ["x=1 \\text{ or } x=2", "1, 2", true, "assignments joined by 'or'"],
    ["1, 2", "x = 1, x = 2", true, "answer as assignments"],
    ["3, 5", "\\{3, 5\\}", true, "list vs set"],
  ],
  latexNoise: [
    ["\\frac{1}{3}", "\\left( \\frac{1}{3} \\right)", true, "\\left( \\right)"],
    ["\\frac{1}{3}", "\\displaystyle\\frac{1}{3}", true, "\\displaystyle"],
    ["10", "1\\!0", true, "\\! inside a number"],
    ["9", "$9$", true, "dollar delimiters"],
    ["9", "\\; 9 \\;", true, "spacing commands"],
    ["5", "\\quad 5", true, "\\quad"],
    ["10", "(9+1)", true, "an expression in parentheses"],
    ["\\frac{1}{3}", "\\cfrac{1}{3}", true, "\\cfrac"],
    ["2", "\\mathbf{2}", true, "bold number"],
  ],
  falsePositiveTraps: [
    ["\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", false, "tiny values are never rounded to zero"],
    ["20", "0.2", false, "no percentage reading without a % in the gold"],
    ["[0,1)", "[0,1]", false, "bracket type"],
    ["x \\ge 5", "x \\le 5", false, "inequality direction"],
    ["1", "\\frac{1000000}{999999}", false, "close is not equal for exact values"],
    ["10^{-10}", "0", false, "a small number is not zero"],
    ["0", "10^{-20}", false, "zero is not a small number"],
    ["9^{9^{9^{9}}}", "9^{9^{9^{8}}}", false, "huge powers are not both 'infinity'"],
    ["\\frac{1}{3}", "0.333", false, "a 3-digit rounding of 1/3 (relative error 1e-3)"],
    ["\\frac{1}{3}", "0.3333333", true, "7 digits: within the 1e-6 relative tolerance"],
    ["2", "AZYUK2A", false, "garbage containing the number"],
    ["5", "a", false, "a bare variable"],
    ["7", "7x", false, "a coefficient is not the value"],
    ["\\frac{3}{4}", "\\frac{4}{3}", false, "reciprocal"],
    ["12", "21", false, "digit swap"],
    ["(1,2)", "[1,2]", false, "open vs closed pair"],
    ["1", "1 + 10^{-30}", false, "a difference far below double precision, still exact"],
  ],
  multipleBoxed: [
    ["5", "First \\boxed{4}, then corrected: \\boxed{5}", true, "the last \\boxed counts"],
    ["4", "First \\boxed{4}, then corrected: \\boxed{5}", false, "an earlier \\boxed does not count"],
    ["5", "\\boxed{\\boxed{5}}", true, "nested boxes"],
    ["5", "\\fbox{5}", true, "\\fbox"],
    ["5", "So \\boxed 5.", true, "\\boxed without braces takes one token"],
    ["2", "\\boxed{1} and \\boxed{2}", true, "two boxes: the last"],
    ["\\frac{1}{2}", "\\boxed{\\frac{1}{2}} \\boxed{}", false, "the last box is empty"],
  ],
  noAnswer: [
    ["7", "The answer is 7.", false, "no \\boxed or <answer>: nothing counts by default"],
    ["7", "Answer: 7", false, "'Answer:' is not the contract"],
    ["7", "", false, "empty response"],
    ["7", "\\boxed{7", false, "unbalanced \\boxed"],
    ["7", "<answer></answer>", false, "empty answer span"],
    ["7", "<answer>7", false, "unclosed answer span"],
    ["7", "\\boxed{}", false, "empty box"],
  ],
  extraction: [
    ["5", "<think>maybe \\boxed{4}</think><answer>5</answer>", true, "a \\boxed in <think> is a draft"],
    ["4", "<think>maybe \\boxed{4}</think><answer>5</answer>", false, "the draft is not the answer"],
    ["5", "<think>x</think><answer>the value is \\boxed{5}</answer>", true, "\\boxed inside the answer span"],
    ["5", "<answer>3</answer> later <answer>5</answer>", true, "the last answer span"],
    ["5", "<think>...</think> <answer> $5$ </answer>", true, "math delimiters inside the span"],
    ["5", "<answer>\\boxed{3} then \\boxed{5}</answer>", true, "last \\boxed within the span"],
    ["\\frac{14}{3}", "=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}", true, "box at the end of a computation"],
  ],
};

describe("verifyMath by category", () => {
  for (const [cat, cases] of Object.entries(CATEGORIES)) {
    describe(cat, () => {
      it.each(cases)("gold %s vs %s → %s (%s)", (gold, answer, expected) => {
        const r = verifyMath(response(answer), gold);
        expect(r.correct, `${gold} vs ${answer}: ${r.reason}`).toBe(expected);
      });
    });
  }
});

describe("verifyMath result shape", () => {
  it("reports the extracted text and a reason", () => {
    expect(verifyMath("so \\boxed{42}", "42")).toEqual({ correct: true, extracted: "42", reason: "correct" });
    expect(verifyMath("no box here", "42")).toEqual({ correct: false, extracted: null, reason: "no answer" });
    expect(verifyMath("\\boxed{41}", "42")).toEqual({ correct: false, extracted: "41", reason: "wrong" });
  });
  it("lenient extraction is an explicit option", () => {
    expect(verifyMath("The answer is 7.", "7").correct).toBe(false);
    expect(verifyMath("The answer is 7.", "7", { lenient: true }).correct).toBe(true);
    expect(verifyMath("we get 3 and then 7", "7", { lenient: true }).correct).toBe(true);
  });
  it("accepts a gold answer that is itself boxed", () => {
    expect(verifyMath("\\boxed{3}", "so \\boxed{3}").correct).toBe(true);
  });
});
