#!/usr/bin/env python3
"""Golden scores for Countdown: TinyZero's scoring (verl/utils/reward_score/countdown.py,
compute_score with format_score=0.1, score=1.0), re-implemented from its documented behaviour,
applied to a fixed set of responses. Writes test/rewards/fixtures/countdown_tinyzero.json
({"magic": "aha-countdown-tinyzero", "version": 2, "cases": [...]}).

Each case: numbers, target, response (the text after the prompt), prefix (what the prompt ends with
that belongs to the response: "" for a prompt ending "Assistant:", or "<think>" for TinyZero's own
base prompt, which ends "Assistant: Let me solve this step by step.\n<think>"), tinyzero (its score)
and `accident` (null, or why TinyZero's score is an accident we deliberately do not copy: float
equality, last-line-only extraction, '.'/'**'/'//' accepted by its character check).
Run: /usr/bin/python3 scripts/make_countdown_fixture.py
"""
import json
import os
import re

FORMAT_SCORE, SCORE = 0.1, 1.0


def extract_solution(solution_str):
    # TinyZero: the text after the first "Assistant:", then only the LAST LINE, last <answer>…</answer> on it
    if "Assistant:" in solution_str:
        solution_str = solution_str.split("Assistant:", 1)[1]
    else:
        return None
    solution_str = solution_str.split("\n")[-1]
    matches = list(re.finditer(r"<answer>(.*?)</answer>", solution_str))
    return matches[-1].group(1).strip() if matches else None


def validate_equation(eq, numbers):
    try:
        return sorted(int(n) for n in re.findall(r"\d+", eq)) == sorted(numbers)
    except Exception:
        return False


def evaluate_equation(eq):
    # TinyZero evaluates with eval() after a character check; our fixed strings only ever reach eval
    # when they contain nothing but digits, + - * / ( ) . and whitespace.
    if not re.match(r"^[\d+\-*/().\s]+$", eq):
        return None
    try:
        return eval(eq, {"__builtins__": None}, {})  # noqa: S307 — fixed, pre-checked arithmetic strings only
    except Exception:
        return None


def tinyzero(response, numbers, target, prefix):
    prompt = "User: ... Assistant:" if prefix == "" else "User: ... Assistant: Let me solve this step by step.\n" + prefix
    eq = extract_solution(prompt + response)
    if eq is None:
        return 0
    if not validate_equation(eq, numbers):
        return FORMAT_SCORE
    result = evaluate_equation(eq)
    if result is None:
        return FORMAT_SCORE
    return SCORE if abs(result - target) < 1e-5 else FORMAT_SCORE


A = lambda eq: "<think>let me try</think> <answer>" + eq + "</answer>"  # noqa: E731 — one line on one line
T = lambda numbers, target, response, accident: (numbers, target, response, accident, "<think>")  # noqa: E731

CASES = [
    # valid
    ([1, 2, 3], 6, A("1+2+3"), None), ([44, 19, 35], 98, A("(44 + 19) + 35"), None), ([4, 8, 2], 16, A("8/2*4"), None),
    ([2, 3, 9], 6, A("9/(3/2)"), None), ([95, 36, 32], 91, A("95 - 36 + 32"), None), ([5, 3, 2], 1, A("-5+3*2"), None),
    ([10, 10, 1], 100, A("10*10*1"), None), ([1, 2, 3], 6, A("01+2+3"), None), ([79, 17, 60], 36, A("79 - (60 - 17)"), None),
    ([3, 7, 13, 1], 19, A("(13 - 7) * 3 + 1"), None),
    ([6, 4, 2], 5, A(" (6 + 4) / 2 "), None),
    # invalid characters / forms
    ([1, 2, 3], 6, A("1+2+3=6"), None), ([1, 2, 3], 6, A("2^2+1+1"), None), ([1, 2, 3], 6, A("1 × 2 × 3"), None),
    ([1, 2, 3], 6, A("(1+2)*3)"), None), ([1, 2, 3], 6, A(""), None), ([1, 2, 3], 6, A("six"), None),
    # reused and missing numbers
    ([1, 2, 3], 3, A("1+2"), None), ([1, 2, 3], 7, A("1+2+3+1"), None), ([1, 2, 3], 6, A("12/2+0"), None),
    ([1, 2, 3, 4], 24, A("2*3*4"), None), ([10, 10, 1], 10, A("10*1"), None),
    # wrong value
    ([1, 2, 3], 7, A("1+2+3"), None), ([2, 1, 1], 1, A("2/(1-1)"), None),
    # no answer
    ([1, 2, 3], 6, "1+2+3", None), ([1, 2, 3], 6, "<answer>1+2+3", None), ([1, 2, 3], 6, "", None),
    # last answer
    ([1, 2, 3], 6, "<answer>1+2</answer> no wait <answer>1+2+3</answer>", None),
    ([1, 2, 3], 6, "<answer>1+2+3</answer> no wait <answer>1+2</answer>", None),
    # injection attempts
    ([1, 2, 3], 6, A("__import__('os').system('ls')"), None), ([1, 1], 2, A("1+1; import os"), None),
    ([1, 2, 3], 6, A("eval('1+2+3')"), None), ([1, 2, 3], 6, A("(lambda: 6)()"), None),
    ([1, 2, 3], 6, A("1+2+3 # comment"), None),
    # an answer inside the thinking (T: TinyZero's prompt, whose "<think>" the response continues)
    T([1, 2, 3], 6, " 1+2+3 works <answer>1+2+3</answer>\nlet me check again\n</think>", None),
    T([1, 2, 3], 6, " 1+2+3 works <answer>1+2+3</answer>\nstill checking", None),
    T([1, 2, 3], 6, " maybe <answer>1+2</answer>\nno\n</think> <answer>1+2+3</answer>", None),
    T([1, 2, 3], 6, " maybe <answer>1+2+3</answer>\nno\n</think> <answer>1+2</answer>", None),
    T([1, 2, 3], 6, " 1+2+3\n</think>\n<answer>1+2+3</answer>", None),
    ([1, 2, 3], 6, "<think>try <answer>1+2+3</answer>\nhmm, wait\n</think>", None),
    # TinyZero's accidents
    T([1, 2, 3], 6, " 1+2+3 works <answer>1+2+3</answer> let me check again</think>",
      "an answer inside the thinking counts when it is on the last line (only the last-line search guards the thinking)"),
    ([999999, 1000000], 1, A("1000000/999999"), "float tolerance 1e-5 accepts 1000000/999999 as 1"),
    ([1, 2, 3], 6, "<think>x</think>\n<answer>1+2+3</answer>\nDone.", "only the last line is searched for <answer>"),
    ([1, 2, 3], 6, "<answer>\n1+2+3\n</answer>", "an answer span across lines is never found"),
    ([2, 3, 1], 9, A("3**2*1"), "its character check lets ** through to eval (a power)"),
    ([7, 2, 1], 3, A("7//2*1"), "its character check lets // through to eval (floor division)"),
    ([1, 5, 2], 3, A("1.5*2"), "'.' passes its check, so 1.5 counts as the numbers 1 and 5"),
]


def main():
    out = []
    for numbers, target, response, accident, *rest in CASES:
        prefix = rest[0] if rest else ""
        out.append({"numbers": numbers, "target": target, "response": response, "prefix": prefix,
                    "tinyzero": tinyzero(response, numbers, target, prefix), "accident": accident})
    path = os.path.join(os.path.dirname(__file__), "..", "test", "rewards", "fixtures", "countdown_tinyzero.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"magic": "aha-countdown-tinyzero", "version": 2, "cases": out}, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
