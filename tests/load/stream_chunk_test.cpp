// Decoding OpenAI streaming chunks as vLLM, SGLang and llama.cpp emit them (docs/serving-protocols.md §1.3).
#include "catch.h"
#include "load/stream_chunk.h"

using qg::load::parse_stream_chunk;

TEST_CASE("chunk: vLLM chat role, content, finish and usage chunks", "[load]") {
  auto role = parse_stream_chunk(R"({"id":"chatcmpl-7c1e","object":"chat.completion.chunk","created":1760000000,"model":"qwen3-8b","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})");
  REQUIRE(role.valid_json);
  CHECK(role.n_choices == 1);
  CHECK(role.has_role);
  CHECK_FALSE(role.has_text());
  CHECK(role.model == "qwen3-8b");
  auto c = parse_stream_chunk(R"({"choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":"length","stop_reason":null}]})");
  CHECK(c.content == "!");
  CHECK(c.finish_reason == "length");
  auto u = parse_stream_chunk(R"({"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"total_tokens":11,"completion_tokens":2}})");
  CHECK(u.n_choices == 0);
  REQUIRE(u.usage);
  CHECK(u.usage->prompt_tokens == 9);
  CHECK(u.usage->completion_tokens == 2);
}

TEST_CASE("chunk: SGLang nulls, reasoning deltas, llama.cpp null content", "[load]") {
  auto s = parse_stream_chunk(R"({"choices":[{"index":0,"delta":{"reasoning_content":null,"content":"Hello"},"logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":null})");
  CHECK(s.content == "Hello");
  CHECK_FALSE(s.usage);
  auto r = parse_stream_chunk(R"({"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]})");
  CHECK(r.reasoning == "think");
  CHECK(r.has_text());
  auto r2 = parse_stream_chunk(R"({"choices":[{"index":0,"delta":{"reasoning":"hmm"}}]})");
  CHECK(r2.reasoning == "hmm");
  auto l = parse_stream_chunk(R"({"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"system_fingerprint":"b7000-1a2b3c4d","object":"chat.completion.chunk"})");
  CHECK(l.has_role);
  CHECK_FALSE(l.has_text());
  CHECK(l.system_fingerprint == "b7000-1a2b3c4d");
  auto comp = parse_stream_chunk(R"({"choices":[{"text":" Hi","index":0,"logprobs":null,"finish_reason":null,"token_ids":[5,6]}],"object":"text_completion"})");
  CHECK(comp.content == " Hi");
  REQUIRE(comp.n_tokens_hint);
  CHECK(*comp.n_tokens_hint == 2);
}

TEST_CASE("chunk: error events and malformed data", "[load]") {
  auto e = parse_stream_chunk(R"({"error":{"code":500,"message":"boom","type":"server_error"}})");
  CHECK(e.is_error);
  CHECK(e.error_message == "boom");
  auto flat = parse_stream_chunk(R"({"object":"error","message":"bad","type":"BadRequestError","code":400})");
  CHECK(flat.is_error);
  CHECK_FALSE(parse_stream_chunk(R"({"choices":[{"text":"oops)").valid_json);
  CHECK_FALSE(parse_stream_chunk("[1,2]").valid_json);
  CHECK_FALSE(parse_stream_chunk("").valid_json);
}
