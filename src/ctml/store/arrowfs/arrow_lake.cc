#include "ctml/store/arrowfs/arrow_lake.h"

#include <arrow/api.h>
#include <arrow/filesystem/api.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/api.h>
#include <arrow/util/uri.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "ctml/core/crypto.h"

namespace ctml::store {
namespace {

Status FromArrow(const arrow::Status& s, const std::string& context) {
  if (s.ok()) return Status::OK();
  std::string msg = context + ": " + s.ToString();
  // The AWS SDK's "cannot connect" (server down, DNS, refused): callers retry later.
  if (s.message().find("NETWORK_CONNECTION") != std::string::npos) {
    return Status::Unavailable(msg);
  }
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
  // `root` is the filesystem path of the lake root ("/abs/dir" or "bucket/prefix"). Local
  // directories get write-then-rename; object stores (`object_store`) have no rename (S3's copy +
  // delete is neither atomic nor cheap) but a PUT is atomic for readers, and need no directories.
  // `ping_fs` (default: `fs`) answers Ping: for S3 one without the SDK's retries, so that a down
  // server is reported in about a second instead of after ~6 s of backoff.
  ArrowLake(std::string uri, std::shared_ptr<arrow::fs::FileSystem> fs, std::string root,
            bool object_store, std::shared_ptr<arrow::fs::FileSystem> ping_fs = nullptr)
      : uri_(std::move(uri)),
        fs_(std::move(fs)),
        ping_fs_(ping_fs != nullptr ? std::move(ping_fs) : fs_),
        root_(std::move(root)),
        atomic_rename_(!object_store),
        object_store_(object_store) {}

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

  // Local: the root directory exists. S3: the bucket answers (HeadBucket); the prefix may not
  // exist yet (an empty lake). Any failure to reach it is Unavailable.
  Status Ping() override {
    std::string probe = object_store_ ? root_.substr(0, root_.find('/')) : root_;
    auto info = ping_fs_->GetFileInfo(probe);
    if (!info.ok()) {
      return Status::Unavailable("lake: ping " + uri_ + ": " + info.status().ToString());
    }
    if (info->type() != arrow::fs::FileType::Directory) {
      return Status::Unavailable("lake: " + std::string(object_store_ ? "bucket" : "root") +
                                 " of " + uri_ + " does not exist");
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
    if (!object_store_ && slash != std::string::npos && slash > 0) {
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
  std::shared_ptr<arrow::fs::FileSystem> ping_fs_;
  std::string root_;  // filesystem path of the lake root, no trailing '/'
  bool atomic_rename_;
  bool object_store_;
};

// Arrow's S3 layer (the AWS SDK) is initialized once per process, on the first s3:// lake, and
// finalized at exit: without FinalizeS3 the SDK's threads crash the process at exit. Exit handlers
// run in reverse order of registration and FinalizeS3 needs Arrow's S3 client registry, a static
// Arrow creates with the first S3FileSystem: so a throwaway filesystem (no network I/O) is made
// before the handler is registered.
Status EnsureS3() {
  static std::once_flag once;
  static arrow::Status status;
  std::call_once(once, [] {
    status = arrow::fs::EnsureS3Initialized();
    if (!status.ok()) return;
    arrow::fs::S3Options probe = arrow::fs::S3Options::Anonymous();
    probe.region = "us-east-1";
    probe.endpoint_override = "127.0.0.1:1";
    probe.scheme = "http";
    (void)arrow::fs::S3FileSystem::Make(probe);
    std::atexit([] { (void)arrow::fs::EnsureS3Finalized(); });
  });
  return FromArrow(status, "lake: initializing S3");
}

// KEY=VALUE lines (optionally "export KEY=VALUE"), as scripts/services/s3.sh writes and prints.
Result<std::map<std::string, std::string>> ReadCredentialsFile(const std::string& path,
                                                               const std::string& uri) {
  std::ifstream in(path);
  if (!in) {
    return Status::Invalid("lake URI '" + uri + "': cannot read credentials_file '" + path + "'",
                           "lake.uri");
  }
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("export ", 0) == 0) line.erase(0, 7);
    auto eq = line.find('=');
    if (eq == std::string::npos || line.empty() || line[0] == '#') continue;
    std::string value = line.substr(eq + 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    out[line.substr(0, eq)] = value;
  }
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// s3://bucket[/prefix]?endpoint_override=host:port&scheme=http|https&region=..&credentials_file=..
// Credentials never come from the URI: credentials_file, else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the AWS SDK's default chain (profile, IMDS).
Result<std::unique_ptr<Lake>> OpenS3Lake(const std::string& uri) {
  arrow::util::Uri parsed;
  if (!parsed.Parse(uri).ok()) {
    // Arrow's message quotes the whole URI; ours hides what could be credentials.
    std::string shown = uri;
    if (auto at = shown.find('@'); at != std::string::npos) shown = "s3://***" + shown.substr(at);
    return Status::Invalid(
        "lake URI '" + shown + "' is not a valid s3:// URI (expected s3://bucket[/prefix]?...)",
        "lake.uri");
  }
  if (!parsed.username().empty() || !parsed.password().empty()) {
    return Status::Invalid(
        "lake URI must not carry credentials: use credentials_file=... or AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY",
        "lake.uri");
  }
  const std::string bucket = parsed.host();
  if (bucket.empty()) {
    return Status::Invalid("lake URI '" + uri + "' names no bucket (expected s3://bucket[/prefix])",
                           "lake.uri");
  }
  std::string prefix = parsed.path();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();

  auto items = parsed.query_items();
  if (!items.ok()) return FromArrow(items.status(), "lake URI '" + uri + "'");
  std::map<std::string, std::string> query(items->begin(), items->end());
  for (const auto& [key, value] : query) {
    if (key != "endpoint_override" && key != "scheme" && key != "region" &&
        key != "credentials_file") {
      return Status::Invalid("lake URI '" + uri + "': unknown parameter '" + key +
                                 "' (endpoint_override, scheme, region, credentials_file)",
                             "lake.uri");
    }
  }
  auto param = [&](const std::string& key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };

  CTML_RETURN_NOT_OK(EnsureS3());
  arrow::fs::S3Options options;
  if (std::string file = param("credentials_file"); !file.empty()) {
    CTML_ASSIGN_OR_RETURN(auto creds, ReadCredentialsFile(file, uri));
    if (creds["AWS_ACCESS_KEY_ID"].empty() || creds["AWS_SECRET_ACCESS_KEY"].empty()) {
      return Status::Invalid("lake URI '" + uri + "': credentials_file '" + file +
                                 "' lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY",
                             "lake.uri");
    }
    options.ConfigureAccessKey(creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"],
                               creds["AWS_SESSION_TOKEN"]);
  } else if (!Env("AWS_ACCESS_KEY_ID").empty() && !Env("AWS_SECRET_ACCESS_KEY").empty()) {
    options.ConfigureAccessKey(Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
                               Env("AWS_SESSION_TOKEN"));
  } else {
    options.ConfigureDefaultCredentials();
  }
  // With an endpoint override, path-style addressing (http://host:port/bucket/key): what
  // S3-compatible servers expect (force_virtual_addressing stays false).
  options.endpoint_override = param("endpoint_override");
  options.scheme = param("scheme").empty() ? "https" : param("scheme");
  if (options.scheme != "http" && options.scheme != "https") {
    return Status::Invalid("lake URI '" + uri + "': scheme must be http or https", "lake.uri");
  }
  options.region = param("region");
  if (options.region.empty()) options.region = Env("AWS_REGION");
  if (options.region.empty()) options.region = Env("AWS_DEFAULT_REGION");
  if (options.region.empty() && !options.endpoint_override.empty()) options.region = "us-east-1";
  if (options.region.empty()) {
    // AWS itself: ask where the bucket lives (as arrow::fs::S3Options::FromUri does); when that
    // fails (offline), the SDK's default applies and errors surface on first use.
    auto region = arrow::fs::ResolveS3BucketRegion(bucket);
    if (region.ok()) options.region = *region;
  }
  // Small objects go up as one PutObject on Close (large ones as a multipart upload that
  // becomes visible only when complete): either way readers never see a partial object.
  options.allow_delayed_open = true;
  CTML_ARROW_ASSIGN_OR_RETURN(auto fs, arrow::fs::S3FileSystem::Make(options), "lake: open " + uri);
  arrow::fs::S3Options ping_options = options;
  ping_options.retry_strategy = arrow::fs::S3RetryStrategy::GetAwsStandardRetryStrategy(1);
  CTML_ARROW_ASSIGN_OR_RETURN(auto ping_fs, arrow::fs::S3FileSystem::Make(ping_options),
                              "lake: open " + uri);
  std::string root = prefix.empty() ? bucket : bucket + "/" + prefix;
  return std::unique_ptr<Lake>(
      new ArrowLake(uri, std::move(fs), root, /*object_store=*/true, std::move(ping_fs)));
}

}  // namespace

Result<std::unique_ptr<Lake>> OpenArrowLake(const std::string& uri) {
  if (uri.rfind("s3://", 0) == 0) return OpenS3Lake(uri);
  const std::string scheme = "file://";
  if (uri.rfind(scheme, 0) != 0) {
    return Status::Invalid("arrow lake: unsupported URI '" + uri +
                               "' (expected file:///abs/dir or s3://bucket[/prefix]?...)",
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
  return std::unique_ptr<Lake>(new ArrowLake(uri, std::move(fs), fs_path, /*object_store=*/false));
}

}  // namespace ctml::store
