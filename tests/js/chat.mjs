// The guide's JavaScript example against Bifrost: `node chat.mjs http://HOST:PORT/openai`.
// Prints one JSON object with what the official openai package saw (asserted by tests/e2e/test_node_sdk.py).
import OpenAI from "openai";

const baseURL = process.argv[2] ?? "http://localhost:8080/openai";

// After - Via Bifrost
const openai = new OpenAI({
  baseURL, // Only change this
  apiKey: process.env.OPENAI_API_KEY,
});

// Everything else stays the same
const response = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello!" }],
});

const stream = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Tell me a story" }],
  stream: true,
  stream_options: { include_usage: true },
});
const pieces = [];
let finishReason = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks += 1;
  const choice = chunk.choices[0];
  if (choice?.delta?.content != null) pieces.push(choice.delta.content);
  if (choice?.finish_reason) finishReason = choice.finish_reason;
  if (chunk.usage) usage = chunk.usage;
}

let error = null;
try {
  await new OpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 }).chat.completions.create({
    model: "no-such-model",
    messages: [{ role: "user", content: "Hello!" }],
  });
} catch (err) {
  error = {
    notFound: err instanceof OpenAI.NotFoundError,
    apiError: err instanceof OpenAI.APIError,
    status: err.status ?? null,
    code: err.code ?? null,
    message: err.message,
  };
}

const { data: raw, response: httpResponse } = await openai.chat.completions
  .create({ model: "groq/llama-3.1-8b-instant", messages: [{ role: "user", content: "Hello!" }] })
  .withResponse();

console.log(
  JSON.stringify({
    plain: {
      id: response.id,
      object: response.object,
      model: response.model,
      content: response.choices[0].message.content,
      finish_reason: response.choices[0].finish_reason,
      usage: response.usage,
      extra_fields: response.extra_fields ?? null,
    },
    stream: { content: pieces.join(""), chunks, finish_reason: finishReason, usage },
    error,
    raw: {
      content: raw.choices[0].message.content,
      provider: httpResponse.headers.get("x-bifrost-provider"),
      request_id: httpResponse.headers.get("x-request-id"),
    },
  }),
);
