// `ctml audit verify|list`: the hash-chained audit trail in the MetaStore.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/core/time.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

Result<std::vector<store::AuditRecord>> ReadAll(store::MetaStore& meta) {
  std::vector<store::AuditRecord> all;
  int64_t from = 1;
  while (true) {
    CTML_ASSIGN_OR_RETURN(auto page, meta.ListAudit(from, 1000));
    if (page.empty()) break;
    from = page.back().seq + 1;
    all.insert(all.end(), page.begin(), page.end());
  }
  return all;
}

int RunAudit(const GlobalOptions& g, const std::string& action, int limit) {
  auto cfg = LoadConfig(g, "audit");
  if (!cfg.ok()) {
    Fail("audit", cfg.status());
    return kExitConfig;
  }
  auto meta = store::OpenMetaStore(cfg->GetString("meta.uri"));
  if (!meta.ok()) return Fail("audit", meta.status());
  auto all = ReadAll(**meta);
  if (!all.ok()) return Fail("audit", all.status());
  if (action == "verify") {
    Status st = store::VerifyAuditChain(*all);
    if (!st.ok()) return Fail("audit verify", st);
    std::printf("audit chain OK: %zu records, head %s\n", all->size(),
                all->empty() ? "-" : all->back().hash.substr(0, 16).c_str());
    return kExitOk;
  }
  size_t start = all->size() > static_cast<size_t>(limit) ? all->size() - limit : 0;
  for (size_t i = start; i < all->size(); ++i) {
    const auto& r = (*all)[i];
    std::printf("%6lld  %s  %-10s %-16s %-24s %s\n", static_cast<long long>(r.seq),
                FormatIso8601(r.ts_us).c_str(), r.actor.c_str(), r.action.c_str(), r.object.c_str(),
                r.detail.c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand("audit", "Audit trail: verify the hash chain, list records");
  sub->require_subcommand(1);
  auto limit = std::make_shared<int>(50);
  auto* verify = sub->add_subcommand("verify",
                                     "Check every record's hash and link; exit 1 on "
                                     "any edit, deletion or reorder");
  verify->callback([&g, exit_code] { *exit_code = RunAudit(g, "verify", 0); });
  auto* list = sub->add_subcommand("list", "Print the latest audit records");
  list->add_option("-n,--limit", *limit, "How many (default 50)");
  list->callback([&g, exit_code, limit] { *exit_code = RunAudit(g, "list", *limit); });
}

}  // namespace ctml::cli
