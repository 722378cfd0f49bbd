// The Lake adapter on Arrow FileSystem: Parquet (zstd) and raw objects under a root directory.
// Use OpenLake(uri) from factory.h. Two kinds of root:
//   file:///abs/dir   a local directory, created when missing; writes are write-then-rename.
//   s3://bucket[/prefix]?endpoint_override=host:port&scheme=http|https&region=..
//                     &credentials_file=/path
//                     an S3 bucket (Arrow S3FileSystem; path-style addressing with an endpoint
//                     override). The bucket must exist; opening does not contact the server.
//                     Credentials never go in the URI: credentials_file (AWS_ACCESS_KEY_ID=...
//                     and AWS_SECRET_ACCESS_KEY=... lines), else those environment variables,
//                     else the AWS SDK's default chain. No rename on S3: a write is one PUT
//                     (multipart for large files), atomic for readers. region defaults to
//                     AWS_REGION, else us-east-1 with an endpoint override, else the bucket's.
//
//   CTML_ASSIGN_OR_RETURN(auto lake, ctml::store::OpenArrowLake("file:///abs/var/lake"));
//   // or "s3://ctml/lake?endpoint_override=127.0.0.1:19000&scheme=http" (scripts/services/s3.sh)
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
