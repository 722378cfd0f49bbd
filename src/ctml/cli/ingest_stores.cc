#include "ctml/cli/ingest_stores.h"

#include "ctml/store/factory.h"

namespace ctml::cli {

Status IngestStores::Ping() const {
  CTML_RETURN_NOT_OK(log->Ping().WithContext("event log"));
  return meta->Ping().WithContext("meta store");
}

Result<IngestStores> OpenIngestStores(const Config& cfg) {
  IngestStores s;
  CTML_ASSIGN_OR_RETURN(s.log, store::OpenEventLog(cfg.GetString("log.uri")));
  CTML_ASSIGN_OR_RETURN(s.meta, store::OpenMetaStore(cfg.GetString("meta.uri")));
  s.core = std::make_unique<ingest::IngestCore>(*s.log, s.meta.get());
  return s;
}

}  // namespace ctml::cli
