// The Lake adapter on Arrow FileSystem: Parquet (zstd) and raw objects under a root directory.
// file:///abs/dir today (the root is created when missing); s3:// plugs in the same class later.
// Use OpenLake(uri) from factory.h.
//
//   CTML_ASSIGN_OR_RETURN(auto lake, ctml::store::OpenArrowLake("file:///abs/var/lake"));
//   CTML_RETURN_NOT_OK(lake->WriteParquet("bronze/vital_signs/date=2024-03-01/part-0.parquet", t));
//   CTML_ASSIGN_OR_RETURN(auto all, lake->ReadDataset("bronze/vital_signs"));  // + "date" column
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/lake.h"

namespace ctml::store {

Result<std::unique_ptr<Lake>> OpenArrowLake(const std::string& uri);

}  // namespace ctml::store
