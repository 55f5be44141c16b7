// The Vercel AI SDK's default OpenAI provider (Responses API) against Bifrost:
// `node responses.mjs http://HOST:PORT/v1 MODEL`. Prints one JSON object with what the SDK saw
// (asserted by tests/responses_api/test_node_ai_sdk.py).
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

const baseURL = process.argv[2] ?? "http://localhost:8080/v1";
const model = process.argv[3] ?? "gpt-4o-mini";

const openai = createOpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY ?? "unused" }); // Only change: baseURL

const plain = await generateText({ model: openai(model), prompt: "Say hello" });

const streamed = streamText({ model: openai(model), prompt: "Tell me a story" });
const pieces = [];
for await (const piece of streamed.textStream) pieces.push(piece);

const withTool = await generateText({
  model: openai(model),
  prompt: "Weather in Paris?",
  tools: {
    get_weather: tool({
      description: "Weather in a city",
      inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
      execute: async ({ city }) => `sunny in ${city}`,
    }),
  },
  stopWhen: stepCountIs(3),
});

console.log(
  JSON.stringify({
    plain: { text: plain.text, finishReason: plain.finishReason, usage: plain.usage },
    stream: { text: pieces.join(""), pieces: pieces.length, finishReason: await streamed.finishReason },
    tool: {
      text: withTool.text,
      steps: withTool.steps.length,
      toolResults: withTool.steps.flatMap((s) => s.toolResults.map((r) => r.output)),
    },
  }),
);
