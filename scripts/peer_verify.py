#!/usr/bin/env python3
"""The Python peer of `aha bench verify`: a plain sympy-based math grader of the common kind
(Hendrycks/PRM800K-style string normalisation, then sympy equality), run on the same cases.

It extracts the last \\boxed{...}, normalises the LaTeX (\\left/\\right, \\!, units, \\dfrac,
\\frac12, $...), compares the normalised strings, and otherwise converts both to sympy expressions
(\\frac -> /, \\sqrt -> sqrt, ^ -> **, implicit multiplication) and checks simplify(a - b) == 0.
Written for this benchmark (no code copied from any grader); the LaTeX parser of sympy needs
antlr4, which Debian does not ship, hence the conversion.

Usage: /usr/bin/python3 scripts/peer_verify.py --cases cases.json [--seconds 5] --out out.json
cases.json: [{"gold": str, "response": str}, ...]; out.json: {"per_s": float, "verdicts": [bool, ...]}
"""
import argparse
import json
import re
import signal
import time

import sympy
from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                        standard_transformations)

TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


def last_boxed(text):
    i = text.rfind("\\boxed")
    if i < 0:
        return None
    j = text.find("{", i)
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1:k]
    return None


UNITS = r"(cm|meters?|inches|inch|feet|units?|degrees?|dollars?|cents?|mbox|sq)"


def normalise(s):
    s = s.strip().replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(text|mbox|textbf|mathrm)\{\s*" + UNITS + r"\s*\}(\^\d|\^\{\d\})?", "", s)
    s = re.sub(r"\\(text|mbox|textbf|mathrm)\{(.*?)\}", r"\2", s)
    s = s.replace("\\%", "").replace("%", "").replace(" ", "").replace("\\,", "").replace("{,}", "")
    s = re.sub(r"(\d),(\d\d\d)($|[^\d])", r"\1\2\3", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", s)
    if s.startswith("0.") is False and s.startswith("."):
        s = "0" + s
    if len(s.split("=")) == 2 and len(s.split("=")[0]) <= 2:
        s = s.split("=")[1]
    return s


def latex_to_sympy_text(s):
    # innermost-first rewriting of \frac{a}{b} and \sqrt{a}
    for _ in range(20):
        t = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
        t = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", t)
        if t == s:
            break
        s = t
    s = s.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("{", "(").replace("}", ")")
    s = s.replace("\\infty", "oo").replace("\\", "")
    return s


class Timeout(Exception):
    pass


def _alarm(_sig, _frm):
    raise Timeout()


def equal(gold, pred):
    if pred is None:
        return False
    a, b = normalise(gold), normalise(pred)
    if a == b:
        return True
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        try:
            x = parse_expr(latex_to_sympy_text(a), transformations=TRANSFORMS, evaluate=True)
            y = parse_expr(latex_to_sympy_text(b), transformations=TRANSFORMS, evaluate=True)
            return sympy.simplify(x - y) == 0
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except Exception:  # noqa: BLE001 — any parse/simplify failure means "not equal", as in the common graders
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    cases = json.load(open(args.cases))
    verdicts = [equal(c["gold"], last_boxed(c["response"])) for c in cases]  # also warms sympy's caches
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        for c in cases:
            sympy.core.cache.clear_cache()  # every verification pays its own way, as in a fresh trainer batch
            equal(c["gold"], last_boxed(c["response"]))
        n += len(cases)
    per_s = n / (time.perf_counter() - t0)
    with open(args.out + ".tmp", "w") as f:
        json.dump({"per_s": per_s, "verdicts": verdicts}, f)
    import os
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
