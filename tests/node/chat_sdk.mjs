// The official OpenAI Node SDK against a running Tollgate: one chat, plain and streamed with usage.
// Run by tests/integration/test_backend_conformance.py for every backend; prints JSON it checks.
// Environment: TOLLGATE_URL (…/v1), TOLLGATE_KEY, MODEL.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.TOLLGATE_KEY, maxRetries: 0 });
const messages = [{ role: "user", content: "describe a quiet harbour" }];

const { data: whole, response } = await client.chat.completions
  .create({ model: process.env.MODEL, messages })
  .withResponse();
const stream = await client.chat.completions.create({
  model: process.env.MODEL,
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let finish = null;
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length) {
    streamed += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
console.log(
  JSON.stringify({
    text: whole.choices[0].message.content,
    finish: whole.choices[0].finish_reason,
    backend: response.headers.get("x-tollgate-backend"),
    streamed,
    streamedFinish: finish,
    usage,
  }),
);
