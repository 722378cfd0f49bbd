// AuditHash and VerifyAuditChain (declared in meta_store.h): shared by every MetaStore adapter
// and by `ctml audit verify`.
#include <string>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/store/meta_store.h"

namespace ctml::store {

std::string AuditHash(const AuditRecord& record) {
  // nlohmann::json objects are std::map-backed: keys are serialized sorted, so dump() is
  // canonical for this flat record.
  Json canonical = {{"seq", record.seq},       {"ts_us", record.ts_us},
                    {"actor", record.actor},   {"action", record.action},
                    {"object", record.object}, {"detail", record.detail}};
  std::string text =
      canonical.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
  return HexEncode(Sha256(record.prev_hash + text));
}

Status VerifyAuditChain(const std::vector<AuditRecord>& records) {
  std::string prev_hash;
  int64_t expected_seq = 1;
  for (const auto& r : records) {
    std::string where = "audit chain broken at seq " + std::to_string(r.seq) + ": ";
    if (r.seq != expected_seq) {
      return Status::FailedPrecondition(where + "expected seq " + std::to_string(expected_seq) +
                                        " (a record was deleted, inserted or reordered)");
    }
    if (r.prev_hash != prev_hash) {
      return Status::FailedPrecondition(where + "prev_hash does not match the previous record");
    }
    if (AuditHash(r) != r.hash) {
      return Status::FailedPrecondition(where + "hash does not match the record's content");
    }
    prev_hash = r.hash;
    ++expected_seq;
  }
  return Status::OK();
}

}  // namespace ctml::store
