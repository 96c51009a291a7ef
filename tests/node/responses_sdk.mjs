// The official OpenAI Node SDK against a running Tollgate: the Responses API.
// Run by tests/e2e/test_responses_node_sdk.py, which reads the JSON this prints and checks it.
// Environment: TOLLGATE_URL (…/v1), TOLLGATE_KEY (a customer's key), OTHER_KEY (another customer's).
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.TOLLGATE_KEY, maxRetries: 0 });
const other = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.OTHER_KEY, maxRetries: 0 });
const MODEL = "sim-chat";
const LOOKUP = {
  type: "function",
  name: "lookup",
  parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  strict: true,
};

async function refusal(work) {
  try {
    await work();
    return null;
  } catch (error) {
    return { status: error.status, message: error.message, param: error.param ?? null };
  }
}

async function plain() {
  const { data: response, response: http } = await client.responses
    .create({ model: MODEL, input: "Say hello to the harbour master", instructions: "Be brief." })
    .withResponse();
  return {
    id: response.id,
    status: response.status,
    text: response.output_text,
    usage: response.usage,
    cost: http.headers.get("x-tollgate-cost-usd"),
    requestId: http.headers.get("x-request-id"),
  };
}

async function streamed() {
  const stream = client.responses.stream({ model: MODEL, input: "Tell me about the tides" });
  const kinds = [];
  const sequence = [];
  let deltas = "";
  for await (const event of stream) {
    kinds.push(event.type);
    sequence.push(event.sequence_number);
    if (event.type === "response.output_text.delta") deltas += event.delta;
  }
  const final = await stream.finalResponse();
  const raw = await client.responses.create({ model: MODEL, input: "Hi", stream: true, store: false });
  const rawKinds = [];
  for await (const event of raw) rawKinds.push(event.type);
  return { kinds, sequence, deltas, text: final.output_text, id: final.id, usage: final.usage, rawKinds };
}

async function tools() {
  const first = await client.responses.create({ model: MODEL, input: "Define lighthouse", tools: [LOOKUP], tool_choice: "required" });
  const call = first.output[0];
  const second = await client.responses.create({
    model: MODEL,
    previous_response_id: first.id,
    input: [{ type: "function_call_output", call_id: call.call_id, output: JSON.stringify({ meaning: "a tower" }) }],
    tools: [LOOKUP],
  });
  return { call: { type: call.type, name: call.name, arguments: JSON.parse(call.arguments) }, answer: second.output_text };
}

async function stored(id) {
  const retrieved = await client.responses.retrieve(id);
  const items = [];
  for await (const item of client.responses.inputItems.list(id, { order: "asc" })) items.push(item);
  const foreign = await refusal(() => other.responses.retrieve(id));
  await client.responses.delete(id);
  const deleted = await refusal(() => client.responses.retrieve(id));
  return {
    text: retrieved.output_text,
    items: items.map((item) => ({ type: item.type, role: item.role, text: item.content[0].text })),
    foreign,
    deleted,
  };
}

async function refused() {
  return refusal(() => client.responses.create({ model: MODEL, input: "look it up", tools: [{ type: "web_search" }] }));
}

const plainResult = await plain();
console.log(
  JSON.stringify({
    plain: plainResult,
    streamed: await streamed(),
    tools: await tools(),
    stored: await stored(plainResult.id),
    refused: await refused(),
  }),
);
