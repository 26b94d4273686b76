/** The judge reward part against a local fake OpenAI-compatible server (127.0.0.1, port 0) that records requests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { JUDGE_TEMPLATE, compileJudgeTemplate, judgeReward, judgedAnswer, judgeUrl, parseVerdict } from "../../src/rewards/index.js";
import type { JudgeOptions, ProblemLike } from "../../src/rewards/index.js";

const problem: ProblemLike<unknown> = { id: "p1", question: "What is the capital of France?", answer: "Paris", reference: "Paris" };
const ctx = { responsePrefix: "<think>" };
/** A response that closes the template's prefilled <think> and answers (the transport tests' response). */
const PARIS = "I recall France… </think> <answer>Paris</answer>";

interface Recorded {
  headers: IncomingMessage["headers"];
  body: { model: string; messages: { role: string; content: string }[]; temperature: number; max_tokens: number };
}

type Handler = (req: Recorded, n: number, res: ServerResponse) => void;

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  servers = [];
});

/** Starts a fake server; `n` counts requests from 1. Tracks requests in flight. */
async function fake(handler: Handler): Promise<{ url: string; requests: Recorded[]; maxInFlight: () => number }> {
  const requests: Recorded[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on("close", () => inFlight--);
      expect(req.method).toBe("POST");
      expect(req.url).toBe("/v1/chat/completions");
      const rec: Recorded = { headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Recorded["body"] };
      requests.push(rec);
      handler(rec, requests.length, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/v1`, requests, maxInFlight: () => maxInFlight };
}

function reply(res: ServerResponse, content: string, status = 200): void {
  const body = status === 200 ? { id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] } : { error: { message: content } };
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const fast = (url: string, extra: Partial<JudgeOptions> = {}): JudgeOptions => ({ endpoint: url, model: "judge-m", backoffMs: 2, timeoutMs: 2000, ...extra });

describe("judgeReward against a fake server", () => {
  it("yes verdict: reward 1, and the exact request body", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "The student says Paris, same as the reference.\nFinal Decision: Yes"));
    const judge = judgeReward(fast(srv.url, { maxTokens: 77 }));
    const s = await judge("I recall France... </think> <answer>paris</answer>", problem, ctx);
    expect(s).toEqual({ reward: 1, parts: { judge: 1 }, correct: true, extracted: "paris", reason: "judge: yes" });
    expect(srv.requests).toHaveLength(1);
    const b = srv.requests[0]!.body;
    expect(Object.keys(b).sort()).toEqual(["max_tokens", "messages", "model", "temperature"]);
    expect(b.model).toBe("judge-m");
    expect(b.temperature).toBe(0);
    expect(b.max_tokens).toBe(77);
    expect(b.messages).toHaveLength(1);
    expect(b.messages[0]!.role).toBe("user");
    const prompt = b.messages[0]!.content;
    expect(prompt).toContain("What is the capital of France?");
    expect(prompt).toContain("### Reference answer\nParis\n");
    expect(prompt).toContain("### Student's answer\nparis\n");
    expect(prompt).not.toContain("I recall France");
    expect(prompt).not.toMatch(/\{(question|reference|response)\}/);
    expect(srv.requests[0]!.headers.authorization).toBeUndefined();
  });

  it("a No verdict: reward 0 (a real 0), the text after </think> is judged when there is no <answer>", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "**Final Decision:** No"));
    const judge = judgeReward(fast(srv.url, { temperature: 0.3 }));
    const s = await judge("thinking </think> The answer is Lyon.", problem, ctx);
    expect(s).toEqual({ reward: 0, parts: { judge: 0 }, correct: false, extracted: "The answer is Lyon.", reason: "judge: no" });
    expect(srv.requests[0]!.body.temperature).toBe(0.3);
    expect(srv.requests[0]!.body.messages[0]!.content).toContain("The answer is Lyon.");
  });

  it("500 then success: scored after one retry", async () => {
    const srv = await fake((_r, n, res) => (n === 1 ? reply(res, "overloaded", 500) : reply(res, "Final Decision: True")));
    const s = await judgeReward(fast(srv.url))(PARIS, problem, ctx);
    expect(s.reward).toBe(1);
    expect(srv.requests).toHaveLength(2);
  });

  it("always 500: reward null (never 0) naming the status, after exactly 1 + retries tries", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "boom", 500));
    const s = await judgeReward(fast(srv.url, { retries: 2 }))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.parts).toEqual({});
    expect(s.reason).toMatch(/HTTP 500: boom \(after 3 tries\)/);
    expect(srv.requests).toHaveLength(3);
  });

  it("429 is retried", async () => {
    const srv = await fake((_r, n, res) => (n < 3 ? reply(res, "slow down", 429) : reply(res, "Final Decision: No")));
    const s = await judgeReward(fast(srv.url))(PARIS, problem, ctx);
    expect(s.reward).toBe(0);
    expect(srv.requests).toHaveLength(3);
  });

  it("400 is not retried: null with the status and the server's message", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "model not found", 400));
    const s = await judgeReward(fast(srv.url, { retries: 3 }))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.reason).toBe("judge: HTTP 400: model not found");
    expect(srv.requests).toHaveLength(1);
  });

  it("a hung server times out: null after the retries", async () => {
    const srv = await fake(() => undefined); // never answers
    const t0 = Date.now();
    const s = await judgeReward(fast(srv.url, { timeoutMs: 80, retries: 1 }))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.reason).toMatch(/no reply within 80 ms \(after 2 tries\)/);
    expect(srv.requests).toHaveLength(2);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("a server that stops mid-body times out too", async () => {
    const srv = await fake((_r, _n, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"choices": [');
    });
    const s = await judgeReward(fast(srv.url, { timeoutMs: 80, retries: 0 }))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.reason).toMatch(/no reply within 80 ms/);
  });

  it("an unreachable server: null naming the network error", async () => {
    const srv = await fake(() => undefined);
    const url = srv.url;
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    servers = [];
    const s = await judgeReward(fast(url, { retries: 1 }))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.reason).toMatch(/ECONNREFUSED.*\(after 2 tries\)/);
  });

  it("a reply with no verdict: null with the reply's first 200 characters", async () => {
    const text = "I think the student is probably right but I am not sure. " + "x".repeat(400);
    const srv = await fake((_r, _n, res) => reply(res, text));
    const s = await judgeReward(fast(srv.url))(PARIS, problem, ctx);
    expect(s.reward).toBeNull();
    expect(s.reason).toContain("no verdict in the reply");
    expect(s.reason).toContain(text.slice(0, 200));
    expect(s.reason).not.toContain(text.slice(0, 201));
    expect(srv.requests).toHaveLength(1); // not retried
  });

  it("non-JSON and non-completion replies: null, not retried", async () => {
    const srv = await fake((_r, n, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(n === 1 ? "<html>oops</html>" : JSON.stringify({ choices: [] }));
    });
    const judge = judgeReward(fast(srv.url));
    const a = await judge(PARIS, problem, ctx);
    expect(a.reward).toBeNull();
    expect(a.reason).toMatch(/not JSON: "<html>oops<\/html>"/);
    const b = await judge(PARIS, problem, ctx);
    expect(b.reward).toBeNull();
    expect(b.reason).toMatch(/not a chat completion/);
    expect(srv.requests).toHaveLength(2);
  });

  it("a huge reply body is bounded: null, no crash (with and without content-length)", async () => {
    const big = "Final Decision: Yes ".repeat(150_000); // 3 MB
    const srv = await fake((_r, n, res) => {
      if (n === 1) reply(res, big);
      else {
        res.writeHead(200, { "content-type": "application/json" }); // chunked, no content-length
        res.write('{"choices":[{"message":{"content":"');
        for (let i = 0; i < 30; i++) res.write("y".repeat(100_000));
        res.end('"}}]}');
      }
    });
    const judge = judgeReward(fast(srv.url));
    for (let i = 0; i < 2; i++) {
      const s = await judge(PARIS, problem, ctx);
      expect(s.reward).toBeNull();
      expect(s.reason).toMatch(/the reply is over 1048576 bytes/);
    }
    expect(srv.requests).toHaveLength(2);
  });

  it("a large reply under the cap is parsed (last verdict wins)", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "Final Decision: No\n".repeat(20_000) + "Final Decision: Yes"));
    const s = await judgeReward(fast(srv.url))(PARIS, problem, ctx);
    expect(s.reward).toBe(1);
  });

  it("honours the concurrency cap across calls", async () => {
    const srv = await fake((_r, _n, res) => {
      setTimeout(() => reply(res, "Final Decision: Yes"), 30);
    });
    const judge = judgeReward(fast(srv.url, { concurrency: 3 }));
    const got = await Promise.all(Array.from({ length: 12 }, () => judge(PARIS, problem, ctx)));
    expect(got.every((s) => s.reward === 1)).toBe(true);
    expect(srv.requests).toHaveLength(12);
    expect(srv.maxInFlight()).toBe(3);
  });

  it("a thinking judge: the verdict is read from reasoning_content when content has none", async () => {
    const srv = await fake((_r, _n, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: null, reasoning_content: "They match. Final Decision: Yes" }, finish_reason: "stop" }] }));
    });
    const s = await judgeReward(fast(srv.url))(PARIS, problem, ctx);
    expect(s.reward).toBe(1);
  });

  it("sends the apiKey as a Bearer header", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "Final Decision: Yes"));
    await judgeReward(fast(srv.url, { apiKey: "sk-test-123" }))(PARIS, problem, ctx);
    expect(srv.requests[0]!.headers.authorization).toBe("Bearer sk-test-123");
  });

  it("a custom template: placeholders filled once, literal braces kept", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "Final Decision: Yes"));
    const template = "Q={question} R={reference} A={response} \\frac{1}{2} {{literal}} Final Decision: Yes/No";
    const judge = judgeReward(fast(srv.url, { template }));
    // a response that contains a placeholder's name is not substituted again
    await judge("</think><answer>{reference}</answer>", problem, ctx);
    expect(srv.requests[0]!.body.messages[0]!.content).toBe("Q=What is the capital of France? R=Paris A={reference} \\frac{1}{2} {literal} Final Decision: Yes/No");
  });

  it("a long answer is cut to its end and the prompt says so", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "Final Decision: No"));
    const long = "a".repeat(5000) + "THE-END";
    const s = await judgeReward(fast(srv.url, { maxAnswerChars: 100 }))(`</think>${long}`, problem, ctx);
    const prompt = srv.requests[0]!.body.messages[0]!.content;
    expect(prompt).toContain("[The answer was cut: only its last 100 of 5007 characters are shown.]");
    expect(prompt).toContain("THE-END");
    expect(prompt).not.toContain("a".repeat(101));
    expect(s.extracted!.length).toBeLessThanOrEqual(2049);
  });

  it("an empty answer scores 0 without a call", async () => {
    const srv = await fake((_r, _n, res) => reply(res, "Final Decision: Yes"));
    const s = await judgeReward(fast(srv.url))("<think>hmm</think><answer>  </answer>", problem, ctx);
    expect(s.reward).toBe(0);
    expect(srv.requests).toHaveLength(0);
  });
});

describe("construction errors", () => {
  it("an unknown placeholder is named", () => {
    expect(() => judgeReward({ endpoint: "http://127.0.0.1:1/v1", model: "m", template: "{question} {answer} {response}" })).toThrow(/unknown placeholder \{answer\}/);
  });
  it("a template without {response}, a bad URL, a missing model, bad numbers", () => {
    expect(() => judgeReward({ endpoint: "http://127.0.0.1:1/v1", model: "m", template: "{question}" })).toThrow(/no \{response\}/);
    expect(() => judgeReward({ endpoint: "not a url", model: "m" })).toThrow(/not a URL/);
    expect(() => judgeReward({ endpoint: "ftp://127.0.0.1/v1", model: "m" })).toThrow(/only http and https/);
    expect(() => judgeReward({ endpoint: "http://127.0.0.1:1/v1", model: " " })).toThrow(/model name/);
    expect(() => judgeReward({ endpoint: "http://127.0.0.1:1/v1", model: "m", concurrency: 0 })).toThrow(/concurrency/);
    expect(() => judgeReward({ endpoint: "http://127.0.0.1:1/v1", model: "m", retries: -1 })).toThrow(/retries/);
  });
  it("the default template compiles with all three placeholders", () => {
    const segs = compileJudgeTemplate(JUDGE_TEMPLATE);
    expect(segs.filter((s) => typeof s !== "string").map((s) => (s as { name: string }).name)).toEqual(["question", "reference", "response"]);
  });
});

describe("helpers", () => {
  it("parseVerdict: the last decision wins; echoes and other words do not count", () => {
    expect(parseVerdict("Final Decision: Yes")).toBe(true);
    expect(parseVerdict("final decision: no.")).toBe(false);
    expect(parseVerdict("**Final Decision:** `True`")).toBe(true);
    expect(parseVerdict("Final Decision:\nFALSE")).toBe(false);
    expect(parseVerdict("Final Decision: Yes ... wait. Final Decision: No")).toBe(false);
    expect(parseVerdict("I must output Final Decision: Yes/No. The answers match.")).toBeNull();
    expect(parseVerdict("Final Decision: Yes/No ... Final Decision: Yes")).toBe(true);
    expect(parseVerdict("Final Decision: Yesterday")).toBeNull();
    expect(parseVerdict("Yes")).toBeNull();
    expect(parseVerdict("")).toBeNull();
    // linear on adversarial input
    const t0 = Date.now();
    expect(parseVerdict("final decision:          ".repeat(40_000))).toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  it("judgedAnswer: <answer> span, else after </think>, else everything", () => {
    expect(judgedAnswer("x</think><answer> 5 </answer>")).toBe("5");
    expect(judgedAnswer("x</think> 7 ")).toBe("7");
    expect(judgedAnswer(" just 9 ")).toBe("just 9");
  });
  it("judgeUrl normalises the endpoint", () => {
    expect(judgeUrl("http://127.0.0.1:8000/v1/")).toBe("http://127.0.0.1:8000/v1/chat/completions");
    expect(judgeUrl("http://127.0.0.1:8000")).toBe("http://127.0.0.1:8000/v1/chat/completions");
    expect(judgeUrl("http://h/v1/chat/completions")).toBe("http://h/v1/chat/completions");
  });
});
