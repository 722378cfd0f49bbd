// `ctml auth add-key|list`: API keys with roles (net/auth.h). The key is printed once; only its
// SHA-256 is stored. Every new key is an audited admin action.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/core/json.h"
#include "ctml/net/auth.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

struct AuthArgs {
  std::string id;
  std::string roles = "ingest";
};

std::string User() {
  const char* u = std::getenv("USER");
  return std::string("cli:") + (u && *u ? u : "unknown");
}

int RunAddKey(const GlobalOptions& g, const AuthArgs& a) {
  auto cfg = LoadConfig(g, "auth");
  if (!cfg.ok()) {
    Fail("auth", cfg.status());
    return kExitConfig;
  }
  std::string path = cfg->GetString("auth.keys_file");
  auto meta = store::OpenMetaStore(cfg->GetString("meta.uri"));
  if (!meta.ok()) return Fail("auth", meta.status());
  // Audited first: a key that exists must have its audit record (a failed write after the audit
  // leaves a record of an attempt, never an unaudited key).
  Json detail = {{"roles", a.roles}, {"keys_file", path}};
  auto rec = (*meta)->AppendAudit(User(), "auth.add_key", "api_key/" + a.id, detail.dump());
  if (!rec.ok()) return Fail("auth add-key", rec.status());
  auto key = net::ApiKeys::AddKey(path, a.id, a.roles);
  if (!key.ok()) {
    Fail("auth add-key", key.status());
    return key.status().code() == StatusCode::kInvalid ? kExitUsage : kExitFailure;
  }
  std::fprintf(stderr,
               "created API key '%s' with roles %s (stored hashed in %s); it is shown "
               "only now:\n",
               a.id.c_str(), a.roles.c_str(), path.c_str());
  std::printf("%s\n", key->c_str());
  return kExitOk;
}

int RunList(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "auth");
  if (!cfg.ok()) {
    Fail("auth", cfg.status());
    return kExitConfig;
  }
  std::string path = cfg->GetString("auth.keys_file");
  std::ifstream in(path);
  std::printf("auth.required: %s\nkeys file: %s\n",
              cfg->GetBool("auth.required", false) ? "true" : "false", path.c_str());
  std::string id, roles, hash;
  while (in >> id >> roles >> hash) std::printf("  %-24s %s\n", id.c_str(), roles.c_str());
  return kExitOk;
}

}  // namespace

void RegisterAuthCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand("auth", "API keys with roles (ingest, read, predict, admin)");
  sub->require_subcommand(1);
  auto args = std::make_shared<AuthArgs>();
  auto* add = sub->add_subcommand("add-key", "Create an API key; prints it once, stores its hash");
  add->add_option("--id", args->id, "Key id shown in the audit trail (e.g. site-boston)")
      ->required();
  add->add_option("--roles", args->roles,
                  "Comma list of ingest,read,predict,admin (default ingest)");
  add->callback([&g, exit_code, args] { *exit_code = RunAddKey(g, *args); });
  auto* list = sub->add_subcommand("list", "List key ids and roles (never the keys)");
  list->callback([&g, exit_code] { *exit_code = RunList(g); });
}

}  // namespace ctml::cli
