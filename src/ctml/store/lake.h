// Lake port: an object store holding Parquet files under Hive-style partitions.
// Adapters: file:// (local directory) and s3:// (S3-compatible), both on Arrow FileSystem.
// Arrow types are forward-declared here so that this header stays light.
//
//   CTML_ASSIGN_OR_RETURN(auto lake, ctml::store::OpenLake("file:///abs/var/lake"));
//   CTML_RETURN_NOT_OK(lake->WriteParquet("silver/vitals/date=2024-03-01/part-0-0-99.parquet", t));
//   CTML_ASSIGN_OR_RETURN(auto table, lake->ReadDataset("silver/vitals"));  // + "date" column
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace arrow {
class Table;
}  // namespace arrow

namespace ctml::store {

struct LakeFile {
  std::string path;  // relative to the lake root, '/'-separated
  int64_t size = 0;
};

class Lake {
 public:
  virtual ~Lake() = default;
  // Writes `table` as one zstd-compressed Parquet file; atomic for readers (write then rename
  // where the filesystem allows; a single PUT on S3). Overwrites an existing file.
  virtual Status WriteParquet(const std::string& path, const std::shared_ptr<arrow::Table>& t) = 0;
  virtual Result<std::shared_ptr<arrow::Table>> ReadParquet(const std::string& path) = 0;
  // Only the named columns (names the file lacks are skipped), with the file's row count even
  // when no column is left: reconciliation and index loads read a column or two of many files.
  virtual Result<std::shared_ptr<arrow::Table>> ReadParquetColumns(
      const std::string& path, const std::vector<std::string>& columns) = 0;
  // Reads every *.parquet under `dir` (recursively) as one table. Hive partition directories
  // (key=value) become string columns named after the key. NotFound when `dir` has no file.
  virtual Result<std::shared_ptr<arrow::Table>> ReadDataset(const std::string& dir) = 0;
  // Files under `dir` (recursively), sorted by path; empty when `dir` does not exist.
  virtual Result<std::vector<LakeFile>> List(const std::string& dir) = 0;
  virtual Status PutBytes(const std::string& path, const std::string& bytes) = 0;
  virtual Result<std::string> GetBytes(const std::string& path) = 0;
  virtual Status Delete(const std::string& path) = 0;  // OK when absent
  virtual Status Ping() = 0;
  virtual std::string uri() const = 0;
};

}  // namespace ctml::store
