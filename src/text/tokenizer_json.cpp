// Loading tokenizer.json (+ tokenizer_config.json, chat_template.jinja) into a Tokenizer.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "checkpoint/json_file.h"
#include "common/error.h"
#include "text/json_fields.h"
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> parse_merges(const nlohmann::json& merges, const JsonWhere& where) {
  if (!merges.is_array()) json_fail(where, fmt::format("expected an array of merges, got {}", merges.type_name()));
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  std::size_t rank = 0;
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const auto& m = merges[i];
    if (m.is_string()) {  // legacy "a b" form (lines starting with "#version" are skipped, as in tokenizers)
      const std::string& s = m.get_ref<const std::string&>();
      if (s.rfind("#version", 0) == 0) continue;
      const std::size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        json_fail(where.index(i), fmt::format("merge '{}' is not two tokens separated by one space", s));
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"] form
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      json_fail(where.index(i), fmt::format("expected \"a b\" or [\"a\", \"b\"], got {}", m.dump().substr(0, 60)));
    }
    ++rank;
  }
  return out;
}

std::unique_ptr<BpeModel> parse_model(const nlohmann::json& model, const JsonWhere& where) {
  if (!model.is_object()) json_fail(where, fmt::format("expected an object, got {}", model.type_name()));
  std::string type = "BPE";
  if (model.contains("type")) type = require_string(model, "type", where);
  if (type != "BPE")
    json_fail(where.at("type"), fmt::format("model type '{}' is not supported (quantgate implements BPE tokenizer.json files)", type));
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null() && !(it->is_number() && it->get<double>() == 0.0))
    json_fail(where.at("dropout"), "BPE dropout makes encoding random; expected null");

  const auto& vocab_json = require(model, "vocab", where);
  if (!vocab_json.is_object()) json_fail(where.at("vocab"), fmt::format("expected an object token -> id, got {}", vocab_json.type_name()));
  std::vector<std::pair<std::string, TokenId>> vocab;
  vocab.reserve(vocab_json.size());
  for (const auto& [tok, id] : vocab_json.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > 0x7FFFFFFF)
      json_fail(where.at("vocab"), fmt::format("token '{}': expected a non-negative integer id, got {}", tok, id.dump()));
    vocab.emplace_back(tok, id.get<TokenId>());
  }
  const auto merges = parse_merges(require(model, "merges", where), where.at("merges"));

  BpeOptions opt;
  opt.unk_token = optional_string(model, "unk_token", where);
  opt.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix", where);
  opt.end_of_word_suffix = optional_string(model, "end_of_word_suffix", where);
  opt.fuse_unk = optional_bool(model, "fuse_unk", false, where);
  opt.byte_fallback = optional_bool(model, "byte_fallback", false, where);
  opt.ignore_merges = optional_bool(model, "ignore_merges", false, where);
  return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(opt), where.file);
}

// Added tokens get their ids as `tokenizers`' AddedVocabulary::add_tokens assigns them on load: an
// existing added or vocab entry with the same content keeps its id; new ones count up from the vocab size.
std::vector<AddedToken> parse_added_tokens(const nlohmann::json& root, const BpeModel& model, const JsonWhere& where) {
  std::vector<AddedToken> out;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return out;
  if (!it->is_array()) json_fail(where, fmt::format("expected an array, got {}", it->type_name()));
  std::unordered_map<std::string, std::size_t> index_of;
  auto next_id = static_cast<TokenId>(model.vocab_size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    const JsonWhere tw = where.index(i);
    AddedToken a;
    a.content = require_string(t, "content", tw);
    a.special = optional_bool(t, "special", false, tw);
    a.single_word = optional_bool(t, "single_word", false, tw);
    a.lstrip = optional_bool(t, "lstrip", false, tw);
    a.rstrip = optional_bool(t, "rstrip", false, tw);
    a.normalized = optional_bool(t, "normalized", !a.special, tw);
    if (find_invalid_utf8(a.content) != std::string::npos) json_fail(tw.at("content"), "not valid UTF-8");
    if (a.content.empty()) continue;
    if (auto e = index_of.find(a.content); e != index_of.end()) {
      a.id = out[e->second].id;
      out[e->second] = a;  // a redefinition replaces the flags, keeps the id
      continue;
    }
    const TokenId in_vocab = model.token_to_id(a.content);
    a.id = in_vocab >= 0 ? in_vocab : next_id++;
    index_of[a.content] = out.size();
    out.push_back(std::move(a));
  }
  return out;
}

// tokenizer_config.json special tokens are strings or {"content": ...} objects.
std::optional<std::string> config_token(const nlohmann::json& cfg, const std::string& key, const JsonWhere& where) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  json_fail(where.at(key), fmt::format("expected a token string or {{\"content\": ...}}, got {}", it->type_name()));
}

std::optional<bool> config_bool(const nlohmann::json& cfg, const std::string& key, const JsonWhere& where) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) json_fail(where.at(key), fmt::format("expected true/false, got {}", it->type_name()));
  return it->get<bool>();
}

TokenizerConfig read_config(const fs::path& dir) {
  TokenizerConfig c;
  const fs::path path = dir / "tokenizer_config.json";
  if (fs::exists(path)) {
    c.present = true;
    c.path = path;
    const nlohmann::json cfg = read_json_file(path);
    const std::string file = path.string();
    const JsonWhere w{file, ""};
    if (!cfg.is_object()) json_fail(w, "expected a JSON object");
    c.bos_token = config_token(cfg, "bos_token", w);
    c.eos_token = config_token(cfg, "eos_token", w);
    c.pad_token = config_token(cfg, "pad_token", w);
    c.unk_token = config_token(cfg, "unk_token", w);
    c.add_bos_token = config_bool(cfg, "add_bos_token", w);
    c.add_eos_token = config_bool(cfg, "add_eos_token", w);
    if (auto it = cfg.find("tokenizer_class"); it != cfg.end() && it->is_string()) c.tokenizer_class = it->get<std::string>();
    if (auto it = cfg.find("chat_template"); it != cfg.end() && !it->is_null()) {
      if (it->is_string()) {
        c.chat_template = it->get<std::string>();
        c.chat_template_source = "tokenizer_config.json chat_template";
      } else if (it->is_array()) {  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
        for (const auto& t : *it)
          if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string()) {
            c.chat_template = t["template"].get<std::string>();
            c.chat_template_source = "tokenizer_config.json chat_template (\"default\")";
          }
      } else {
        json_fail(w.at("chat_template"), fmt::format("expected a string or a list of named templates, got {}", it->type_name()));
      }
    }
  }
  const fs::path jinja = dir / "chat_template.jinja";  // transformers >= 4.43 saves the template here
  if (fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) throw Error("cannot read", {.file = jinja.string()});
    c.chat_template = ss.str();
    c.chat_template_source = "chat_template.jinja";
  }
  return c;
}

// The BOS rule: from the post-processor (what encode adds), tokenizer_config.json's bos_token and
// add_bos_token, and the chat template (does it emit bos_token first?).
BosRule derive_bos_rule(const Tokenizer::Impl& t, const std::string& json_file) {
  BosRule r;
  auto id_of = [&](const std::string& tok) -> std::optional<TokenId> {
    if (auto a = t.added.id_of(tok)) return a;
    const TokenId id = t.model->token_to_id(tok);
    return id >= 0 ? std::optional<TokenId>(id) : std::nullopt;
  };
  std::vector<std::string> evidence;
  if (t.config.bos_token) {
    r.bos_token = *t.config.bos_token;
    r.bos_id = id_of(r.bos_token);
    if (!r.bos_id) throw Error(fmt::format("bos_token '{}' is not a token of {}", r.bos_token, json_file), {.file = t.config.path.string()});
    evidence.push_back(fmt::format("tokenizer_config.json bos_token '{}' (id {})", r.bos_token, *r.bos_id));
  }
  if (!t.wrap.before.empty()) {
    const TokenId first = t.wrap.before.front();
    if (!r.bos_id) {  // no config: the token the post-processor puts first is the BOS
      r.bos_id = first;
      if (const AddedToken* a = t.added.by_id(first))
        r.bos_token = a->content;
      else if (const std::string* s = t.model->id_to_token(first))
        r.bos_token = *s;
    }
    r.encode_adds_bos = first == *r.bos_id;
    evidence.push_back(fmt::format("tokenizer.json post_processor: {}", t.wrap.description));
  } else {
    evidence.push_back("tokenizer.json post_processor adds nothing");
  }
  bool template_bos = false;
  if (t.config.chat_template) {
    const std::string& tpl = *t.config.chat_template;
    template_bos = tpl.find("bos_token") != std::string::npos || (!r.bos_token.empty() && tpl.find(r.bos_token) != std::string::npos);
    if (template_bos) evidence.push_back(fmt::format("{} emits the BOS", t.config.chat_template_source));
  }
  if (t.config.add_bos_token) {
    evidence.push_back(fmt::format("tokenizer_config.json add_bos_token={}", *t.config.add_bos_token ? "true" : "false"));
    if (*t.config.add_bos_token != r.encode_adds_bos)
      r.warning = fmt::format("tokenizer_config.json says add_bos_token={} but tokenizer.json's post-processor {}; encode() follows "
                              "tokenizer.json, as the `tokenizers` library does",
                              *t.config.add_bos_token ? "true" : "false", r.encode_adds_bos ? "adds the BOS" : "adds none");
  }
  r.model_expects_bos = r.bos_id.has_value() && (r.encode_adds_bos || t.config.add_bos_token.value_or(false) || template_bos);
  r.source = fmt::format("{}; so a raw document {}", fmt::join(evidence, "; "),
                         r.model_expects_bos ? fmt::format("starts with {} (id {})", r.bos_token, *r.bos_id) : std::string("gets no BOS"));
  return r;
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  fs::path json_path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    json_path = path / "tokenizer.json";
    if (!fs::exists(json_path))
      throw Error("no tokenizer.json in this directory", {.file = path.string(), .hint = "pass a checkpoint directory that has one, or the file itself"});
  } else if (!fs::exists(path, ec)) {
    throw Error("no such file or directory", {.file = path.string()});
  }
  const std::string file = json_path.string();
  const nlohmann::json root = read_json_file(json_path);
  const JsonWhere top{file, ""};
  if (!root.is_object()) json_fail(top, "expected a JSON object (a Hugging Face tokenizer.json)");
  if (auto it = root.find("version"); it != root.end() && !(it->is_string() && it->get<std::string>() == "1.0"))
    json_fail(top.at("version"), fmt::format("unknown tokenizer.json version {} (expected \"1.0\")", it->dump()));

  auto impl = std::make_unique<Impl>();
  impl->json_path = json_path;
  impl->model = parse_model(require(root, "model", top), top.at("model"));
  impl->normalizer = parse_normalizer(root.value("normalizer", nlohmann::json()), top.at("normalizer"));
  impl->pre_tokenizer = parse_pre_tokenizer(root.value("pre_tokenizer", nlohmann::json()), top.at("pre_tokenizer"));
  impl->wrap = parse_post_processor(root.value("post_processor", nlohmann::json()), top.at("post_processor"));
  impl->decoder = parse_decoder(root.value("decoder", nlohmann::json()), top.at("decoder"));
  const auto added = parse_added_tokens(root, *impl->model, top.at("added_tokens"));
  impl->added = AddedVocabulary(added, impl->normalizer.get());

  // get_vocab_size(with_added_tokens=true): distinct token strings of vocab and added tokens.
  std::size_t extra = 0;
  for (const auto& a : added)
    if (impl->model->token_to_id(a.content) < 0) ++extra;
  impl->vocab_size = impl->model->vocab_size() + extra;

  impl->config = read_config(json_path.parent_path());
  impl->bos = derive_bos_rule(*impl, file);

  auto type_of = [&](const char* key) {
    auto it = root.find(key);
    return it == root.end() || it->is_null() ? std::string("none") : it->value("type", std::string("?"));
  };
  impl->components = fmt::format("normalizer {}, pre_tokenizer {}, post_processor {}, decoder {}", type_of("normalizer"),
                                 type_of("pre_tokenizer"), type_of("post_processor"), type_of("decoder"));
  return Tokenizer(std::move(impl));
}

}  // namespace qg::text
