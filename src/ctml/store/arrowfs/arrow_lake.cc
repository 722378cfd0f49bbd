#include "ctml/store/arrowfs/arrow_lake.h"

#include <arrow/api.h>
#include <arrow/filesystem/api.h>
#include <arrow/io/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "ctml/core/crypto.h"

namespace ctml::store {
namespace {

Status FromArrow(const arrow::Status& s, const std::string& context) {
  if (s.ok()) return Status::OK();
  std::string msg = context + ": " + s.ToString();
  if (s.IsInvalid() || s.IsTypeError()) return Status::Invalid(msg);
  if (s.IsKeyError() || s.IsIndexError()) return Status::NotFound(msg);
  if (s.IsCancelled()) return Status::Unavailable(msg);
  if (s.IsNotImplemented()) return Status::FailedPrecondition(msg);
  return Status::IOError(msg);
}

#define CTML_ARROW_RETURN_NOT_OK(expr, ctx)        \
  do {                                             \
    ::arrow::Status _ast = (expr);                 \
    if (!_ast.ok()) return FromArrow(_ast, (ctx)); \
  } while (false)

#define CTML_ARROW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr, ctx) \
  auto tmp = (rexpr);                                          \
  if (!tmp.ok()) return FromArrow(tmp.status(), (ctx));        \
  lhs = std::move(tmp).ValueOrDie()

#define CTML_ARROW_ASSIGN_OR_RETURN(lhs, rexpr, ctx) \
  CTML_ARROW_ASSIGN_OR_RETURN_IMPL(CTML_CONCAT(_ares_, __LINE__), lhs, rexpr, ctx)

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string BaseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// In-flight writes ("<dir>/.<name>.tmp-<random>") and hidden/marker files are not lake content.
bool IsDataFile(const std::string& path) {
  std::string base = BaseName(path);
  return base.find(".tmp-") == std::string::npos && !base.empty() && base[0] != '.' &&
         base[0] != '_';
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hive partition values are URL-encoded ("a%2Fb" = "a/b"), as Spark and Arrow write them.
std::string PercentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexDigit(s[i + 1]);
      int lo = HexDigit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

class ArrowLake final : public Lake {
 public:
  ArrowLake(std::string uri, std::shared_ptr<arrow::fs::FileSystem> fs, std::string root,
            bool atomic_rename)
      : uri_(std::move(uri)),
        fs_(std::move(fs)),
        root_(std::move(root)),
        atomic_rename_(atomic_rename) {}

  Status WriteParquet(const std::string& path, const std::shared_ptr<arrow::Table>& t) override {
    if (t == nullptr) return Status::Invalid("WriteParquet: table is null", "table");
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    auto props =
        parquet::WriterProperties::Builder().compression(parquet::Compression::ZSTD)->build();
    auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
    return WriteAtomically(full, [&](const std::shared_ptr<arrow::io::OutputStream>& out) {
      return parquet::arrow::WriteTable(*t, arrow::default_memory_pool(), out,
                                        /*chunk_size=*/128 * 1024, props, arrow_props);
    });
  }

  Result<std::shared_ptr<arrow::Table>> ReadParquet(const std::string& path) override {
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    CTML_RETURN_NOT_OK(RequireFile(full, path));
    return ReadFullPath(full);
  }

  Result<std::shared_ptr<arrow::Table>> ReadParquetColumns(
      const std::string& path, const std::vector<std::string>& columns) override {
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    CTML_RETURN_NOT_OK(RequireFile(full, path));
    CTML_ARROW_ASSIGN_OR_RETURN(auto in, fs_->OpenInputFile(full), "lake: open " + full);
    CTML_ARROW_ASSIGN_OR_RETURN(auto reader,
                                parquet::arrow::OpenFile(in, arrow::default_memory_pool()),
                                "lake: parquet " + full);
    std::shared_ptr<arrow::Schema> schema;
    CTML_ARROW_RETURN_NOT_OK(reader->GetSchema(&schema), "lake: schema " + full);
    std::vector<int> indices;
    for (const auto& c : columns) {
      int i = schema->GetFieldIndex(c);
      if (i >= 0) indices.push_back(i);  // flat files: field index = leaf column index
    }
    int64_t rows = reader->parquet_reader()->metadata()->num_rows();
    if (indices.empty()) return arrow::Table::Make(arrow::schema({}), arrow::ArrayVector{}, rows);
    CTML_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Table> table, reader->ReadTable(indices),
                                "lake: read " + full);
    CTML_ARROW_ASSIGN_OR_RETURN(table, table->CombineChunks(), "lake: combine " + full);
    return table;
  }

  Result<std::shared_ptr<arrow::Table>> ReadDataset(const std::string& dir) override {
    CTML_ASSIGN_OR_RETURN(std::string base, Full(dir, /*allow_root=*/true));
    CTML_ASSIGN_OR_RETURN(auto files, ListFull(base));
    std::vector<std::shared_ptr<arrow::Table>> tables;
    for (const auto& info : files) {
      if (!EndsWith(info.path(), ".parquet")) continue;
      CTML_ASSIGN_OR_RETURN(auto table, ReadFullPath(info.path()));
      // Hive partition segments between `dir` and the file become string columns.
      std::string rel = info.path().substr(base.size() + 1);
      size_t start = 0;
      for (size_t slash = rel.find('/'); slash != std::string::npos;
           start = slash + 1, slash = rel.find('/', start)) {
        std::string segment = rel.substr(start, slash - start);
        auto eq = segment.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        std::string key = PercentDecode(segment.substr(0, eq));
        std::string value = PercentDecode(segment.substr(eq + 1));
        if (table->schema()->GetFieldIndex(key) >= 0) continue;  // the file's own column wins
        CTML_ARROW_ASSIGN_OR_RETURN(
            auto column, arrow::MakeArrayFromScalar(arrow::StringScalar(value), table->num_rows()),
            "lake: partition column");
        CTML_ARROW_ASSIGN_OR_RETURN(
            table,
            table->AddColumn(table->num_columns(), arrow::field(key, arrow::utf8()),
                             std::make_shared<arrow::ChunkedArray>(column)),
            "lake: partition column");
      }
      tables.push_back(std::move(table));
    }
    if (tables.empty()) return Status::NotFound("lake: no parquet file under '" + dir + "'");
    arrow::ConcatenateTablesOptions opts;
    opts.unify_schemas = true;
    opts.field_merge_options = arrow::Field::MergeOptions::Permissive();
    CTML_ARROW_ASSIGN_OR_RETURN(auto all, arrow::ConcatenateTables(tables, opts),
                                "lake: concatenating '" + dir + "'");
    CTML_ARROW_ASSIGN_OR_RETURN(all, all->CombineChunks(), "lake: combining chunks");
    return all;
  }

  Result<std::vector<LakeFile>> List(const std::string& dir) override {
    CTML_ASSIGN_OR_RETURN(std::string base, Full(dir, /*allow_root=*/true));
    CTML_ASSIGN_OR_RETURN(auto files, ListFull(base));
    std::vector<LakeFile> out;
    out.reserve(files.size());
    for (const auto& info : files) {
      out.push_back({info.path().substr(root_.size() + 1), info.size()});
    }
    return out;
  }

  Status PutBytes(const std::string& path, const std::string& bytes) override {
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    return WriteAtomically(full, [&](const std::shared_ptr<arrow::io::OutputStream>& out) {
      return out->Write(bytes.data(), static_cast<int64_t>(bytes.size()));
    });
  }

  Result<std::string> GetBytes(const std::string& path) override {
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    CTML_RETURN_NOT_OK(RequireFile(full, path));
    CTML_ARROW_ASSIGN_OR_RETURN(auto in, fs_->OpenInputFile(full), "lake: open '" + path + "'");
    CTML_ARROW_ASSIGN_OR_RETURN(int64_t size, in->GetSize(), "lake: size of '" + path + "'");
    CTML_ARROW_ASSIGN_OR_RETURN(auto buf, in->Read(size), "lake: read '" + path + "'");
    CTML_ARROW_RETURN_NOT_OK(in->Close(), "lake: close '" + path + "'");
    return buf->ToString();
  }

  Status Delete(const std::string& path) override {
    CTML_ASSIGN_OR_RETURN(std::string full, Full(path, /*allow_root=*/false));
    CTML_ARROW_ASSIGN_OR_RETURN(auto info, fs_->GetFileInfo(full), "lake: stat '" + path + "'");
    if (info.type() == arrow::fs::FileType::NotFound) return Status::OK();
    if (info.type() == arrow::fs::FileType::Directory) {
      CTML_ARROW_RETURN_NOT_OK(fs_->DeleteDir(full), "lake: delete dir '" + path + "'");
      return Status::OK();
    }
    CTML_ARROW_RETURN_NOT_OK(fs_->DeleteFile(full), "lake: delete '" + path + "'");
    return Status::OK();
  }

  Status Ping() override {
    CTML_ARROW_ASSIGN_OR_RETURN(auto info, fs_->GetFileInfo(root_), "lake: ping " + uri_);
    if (info.type() != arrow::fs::FileType::Directory) {
      return Status::Unavailable("lake: root of " + uri_ + " is not a directory");
    }
    return Status::OK();
  }

  std::string uri() const override { return uri_; }

 private:
  // The filesystem path of a lake-relative path; rejects '..', '.' and empty segments.
  Result<std::string> Full(const std::string& rel, bool allow_root) const {
    std::string p = rel;
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) {
      if (allow_root) return root_;
      return Status::Invalid("lake path must not be empty", "path");
    }
    size_t start = 0;
    for (;;) {
      size_t slash = p.find('/', start);
      std::string seg =
          p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (seg.empty() || seg == "." || seg == "..") {
        return Status::Invalid("lake path '" + rel + "' must be relative without '.' or '..'",
                               "path");
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return root_ + "/" + p;
  }

  Status RequireFile(const std::string& full, const std::string& rel) {
    CTML_ARROW_ASSIGN_OR_RETURN(auto info, fs_->GetFileInfo(full), "lake: stat '" + rel + "'");
    if (info.type() != arrow::fs::FileType::File) {
      return Status::NotFound("lake: no file '" + rel + "'");
    }
    return Status::OK();
  }

  // Data files (no temp or hidden files) under `base`, recursively, sorted by path.
  Result<std::vector<arrow::fs::FileInfo>> ListFull(const std::string& base) {
    arrow::fs::FileSelector sel;
    sel.base_dir = base;
    sel.recursive = true;
    sel.allow_not_found = true;
    CTML_ARROW_ASSIGN_OR_RETURN(auto infos, fs_->GetFileInfo(sel), "lake: list " + base);
    std::vector<arrow::fs::FileInfo> out;
    for (auto& info : infos) {
      if (info.type() == arrow::fs::FileType::File && IsDataFile(info.path())) {
        out.push_back(std::move(info));
      }
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.path() < b.path(); });
    return out;
  }

  Result<std::shared_ptr<arrow::Table>> ReadFullPath(const std::string& full) {
    CTML_ARROW_ASSIGN_OR_RETURN(auto in, fs_->OpenInputFile(full), "lake: open " + full);
    CTML_ARROW_ASSIGN_OR_RETURN(auto reader,
                                parquet::arrow::OpenFile(in, arrow::default_memory_pool()),
                                "lake: parquet " + full);
    CTML_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Table> table, reader->ReadTable(),
                                "lake: read " + full);
    CTML_ARROW_ASSIGN_OR_RETURN(table, table->CombineChunks(), "lake: combine " + full);
    return table;
  }

  template <typename WriteFn>
  Status WriteAtomically(const std::string& full, WriteFn&& write) {
    auto slash = full.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      CTML_ARROW_RETURN_NOT_OK(fs_->CreateDir(full.substr(0, slash), /*recursive=*/true),
                               "lake: mkdir for " + full);
    }
    // The in-flight name starts with '.', which Arrow datasets, Spark and Hive skip, so that a
    // writer killed mid-write leaves nothing that other readers of the lake would pick up.
    std::string target = full;
    if (atomic_rename_) {
      target = (slash == std::string::npos ? "" : full.substr(0, slash + 1)) + "." +
               full.substr(slash == std::string::npos ? 0 : slash + 1) + ".tmp-" +
               HexEncode(RandomBytes(8));
    }
    arrow::Status st = [&]() -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(auto out, fs_->OpenOutputStream(target));
      arrow::Status ws = write(out);
      arrow::Status cs = out->Close();
      ARROW_RETURN_NOT_OK(ws);
      ARROW_RETURN_NOT_OK(cs);
      if (atomic_rename_) ARROW_RETURN_NOT_OK(fs_->Move(target, full));
      return arrow::Status::OK();
    }();
    if (!st.ok()) {
      if (atomic_rename_) (void)fs_->DeleteFile(target);
      return FromArrow(st, "lake: write " + full);
    }
    return Status::OK();
  }

  std::string uri_;
  std::shared_ptr<arrow::fs::FileSystem> fs_;
  std::string root_;  // filesystem path of the lake root, no trailing '/'
  bool atomic_rename_;
};

}  // namespace

Result<std::unique_ptr<Lake>> OpenArrowLake(const std::string& uri) {
  const std::string scheme = "file://";
  if (uri.rfind(scheme, 0) != 0) {
    return Status::Invalid("arrow lake: unsupported URI '" + uri + "' (expected file:///abs/dir)",
                           "lake.uri");
  }
  std::string path = uri.substr(scheme.size());
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (path.empty()) return Status::Invalid("lake URI '" + uri + "' has no path", "lake.uri");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return Status::Invalid("lake URI '" + uri + "': " + ec.message(), "lake.uri");
  std::string root = abs.lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  std::string fs_path;
  CTML_ARROW_ASSIGN_OR_RETURN(auto fs, arrow::fs::FileSystemFromUriOrPath(root, &fs_path),
                              "lake: open " + uri);
  CTML_ARROW_RETURN_NOT_OK(fs->CreateDir(fs_path, /*recursive=*/true), "lake: create " + uri);
  return std::unique_ptr<Lake>(new ArrowLake(uri, std::move(fs), fs_path, /*atomic_rename=*/true));
}

}  // namespace ctml::store
