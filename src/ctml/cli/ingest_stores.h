// The stores every ingestion command writes through (gateway, mllp, bridge, import sdtm,
// ingest-topics): the EventLog at log.uri, the MetaStore at meta.uri (its audit trail) and the
// IngestCore on both.
//
//   auto stores = OpenIngestStores(*cfg);
//   if (!stores.ok()) return Fail("gateway", stores.status());
//   ingest::Gateway gateway(gopts, *stores->core, *deid);
#pragma once

#include <memory>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/store/event_log.h"
#include "ctml/store/meta_store.h"

namespace ctml::cli {

struct IngestStores {
  std::unique_ptr<store::EventLog> log;
  std::unique_ptr<store::MetaStore> meta;
  std::unique_ptr<ingest::IngestCore> core;  // on *log and *meta

  // Both stores answer: the /ready check of a service that acknowledges into them.
  Status Ping() const;
};

Result<IngestStores> OpenIngestStores(const Config& cfg);

}  // namespace ctml::cli
