// SDTM directory import: discovery, DM-first ordering, chunked submission, the report.
#include "ctml/ingest/sdtm/importer.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "ctml/core/time.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/ingest/sdtm/domains.h"
#include "ctml/ingest/sdtm/sdtm.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::sdtm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDomainOrder[] = {"DM", "VS", "LB", "AE", "DS", "EX", "CM"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Accumulates converted events and rejections of one file; flushes a chunk through the core.
class ChunkSink {
 public:
  ChunkSink(IngestCore* core, const ImportOptions& opts, std::string object, ImportReport* report)
      : core_(core), opts_(opts), object_(std::move(object)), report_(report) {}

  Status Add(RowOutcome out, DomainReport* d) {
    if (out.event) {
      ++d->accepted;
      if (!opts_.dry_run) events_.push_back(std::move(*out.event));
    } else {
      ++d->rejected;
      ++d->reasons[out.reason + "(" + out.field + ")"];
      ++info_rejected_;
      ++info_reasons_[out.reason];
    }
    if (events_.size() >= opts_.chunk_events) return Flush();
    return Status::OK();
  }

  Status Flush() {
    if (opts_.dry_run || (events_.empty() && info_rejected_ == 0)) {
      events_.clear();
      return Status::OK();
    }
    BatchInfo info;
    info.source = "sdtm";
    info.actor = opts_.actor;
    info.object = object_;
    info.rejected = info_rejected_;
    info.reject_reasons = info_reasons_;
    CTML_ASSIGN_OR_RETURN(SubmitResult r, core_->Submit(events_, info));
    ++report_->submits;
    report_->alerts += r.alerts;
    events_.clear();
    info_rejected_ = 0;
    info_reasons_.clear();
    return Status::OK();
  }

 private:
  IngestCore* core_;
  const ImportOptions& opts_;
  std::string object_;
  ImportReport* report_;
  std::vector<CanonicalEvent> events_;
  int64_t info_rejected_ = 0;
  std::map<std::string, int64_t> info_reasons_;
};

}  // namespace

bool ImportReport::ok() const {
  for (const auto& d : domains) {
    if (!d.error.empty()) return false;
  }
  return true;
}

Result<std::vector<std::pair<std::string, std::vector<std::string>>>> FindDomainFiles(
    const std::string& dir, std::vector<std::string>* ignored) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("not a directory: " + dir);
  std::map<std::string, std::vector<std::string>> by_domain;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    names.push_back(it->path().filename().string());
  }
  if (ec) return Status::IOError("cannot list " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::set<std::string> xpt_stems;
  for (const auto& n : names) {
    std::string l = Lower(n);
    if (l.size() > 4 && l.compare(l.size() - 4, 4, ".xpt") == 0) {
      xpt_stems.insert(l.substr(0, l.size() - 4));
    }
  }
  for (const auto& n : names) {
    std::string l = Lower(n);
    bool is_xpt = l.size() > 4 && l.compare(l.size() - 4, 4, ".xpt") == 0;
    bool is_csv = l.size() > 4 && l.compare(l.size() - 4, 4, ".csv") == 0;
    if (!is_xpt && !is_csv) continue;
    auto domain = DomainForFile(n);
    if (!domain || (is_csv && xpt_stems.count(l.substr(0, l.size() - 4)))) {
      if (ignored) ignored->push_back(n);
      continue;
    }
    by_domain[*domain].push_back(n);
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const char* d : kDomainOrder) {
    auto it = by_domain.find(d);
    if (it != by_domain.end()) out.emplace_back(d, it->second);
  }
  return out;
}

Result<ImportReport> ImportSdtm(const ImportOptions& opts, const privacy::Deidentifier& deid,
                                IngestCore* core) {
  if (!opts.dry_run && !core) return Status::Invalid("an IngestCore is required unless dry-run");
  if (opts.chunk_events == 0) return Status::Invalid("chunk size must be > 0", "chunk_events");
  std::set<std::string> wanted;
  for (const auto& d : opts.domains) {
    std::string u = d;
    for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!IsSupportedDomain(u)) {
      return Status::Invalid(
          "unsupported SDTM domain '" + u + "' (supported: DM VS LB AE DS EX CM)", "domains");
    }
    wanted.insert(u);
  }
  auto start = std::chrono::steady_clock::now();
  ImportReport report;
  report.dry_run = opts.dry_run;
  CTML_ASSIGN_OR_RETURN(auto files, FindDomainFiles(opts.dir, &report.ignored_files));
  auto say = [&](const std::string& line) {
    if (opts.progress) opts.progress(line);
  };

  std::unordered_map<std::string, std::string> sites;
  ConvertContext ctx;
  ctx.deid = &deid;
  ctx.study_override = opts.study_override;
  ctx.sites = &sites;
  ctx.received_at_us = opts.received_at_us ? opts.received_at_us : NowMicros();

  for (const auto& [domain, names] : files) {
    bool import = wanted.empty() || wanted.count(domain) > 0;
    bool is_dm = domain == "DM";
    if (!import && !is_dm) continue;
    DomainReport d;
    d.domain = domain;
    d.files = names;
    for (const std::string& name : names) {
      std::string path = (fs::path(opts.dir) / name).string();
      auto file_start = std::chrono::steady_clock::now();
      ChunkSink sink(core, opts, name, &report);
      int64_t file_rows = 0, file_acc0 = d.accepted, file_rej0 = d.rejected;
      auto progress_line = [&](const char* what) {
        char buf[256];
        std::snprintf(buf, sizeof(buf), "sdtm: %s %s %s rows=%lld accepted=%lld rejected=%lld",
                      domain.c_str(), name.c_str(), what, static_cast<long long>(file_rows),
                      static_cast<long long>(d.accepted - file_acc0),
                      static_cast<long long>(d.rejected - file_rej0));
        return std::string(buf);
      };
      Status submit_status;
      Status read_status = ReadDataset(
          path,
          [&](const Row& row) -> Status {
            ++file_rows;
            if (is_dm) {
              std::string u(row.String("USUBJID")), site(row.String("SITEID"));
              if (!u.empty() && !site.empty()) sites[u] = site;
            }
            if (import) {
              Status st = sink.Add(ConvertRow(domain, row, ctx), &d);
              if (!st.ok()) {
                submit_status = st;
                return st;
              }
            }
            if (opts.progress_rows > 0 && file_rows % opts.progress_rows == 0) {
              say(progress_line("reading"));
            }
            return Status::OK();
          },
          nullptr);
      if (!submit_status.ok()) return submit_status;
      d.rows_read += file_rows;
      if (import) CTML_RETURN_NOT_OK(sink.Flush());  // also what was read before a read error
      if (!read_status.ok()) {
        if (!d.error.empty()) d.error += "; ";
        d.error += read_status.message();
        say(progress_line("FAILED") + ": " + read_status.message());
        continue;
      }
      char secs[32];
      std::snprintf(secs, sizeof(secs), " (%.2fs)", Seconds(file_start));
      say(progress_line(import ? "done" : "read for sites") + secs);
    }
    if (import) report.domains.push_back(std::move(d));
  }
  report.seconds = Seconds(start);
  return report;
}

std::string FormatImportReport(const ImportReport& report) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-6s %-28s %10s %10s %10s  %s\n", "domain", "files", "rows",
                "accepted", "rejected", "rejected reasons");
  out += buf;
  int64_t rows = 0, acc = 0, rej = 0;
  for (const auto& d : report.domains) {
    std::string files;
    for (const auto& f : d.files) files += (files.empty() ? "" : ",") + f;
    std::string reasons;
    for (const auto& [k, v] : d.reasons) {
      reasons += (reasons.empty() ? "" : ", ") + k + " " + std::to_string(v);
    }
    if (!d.error.empty())
      reasons += (reasons.empty() ? "" : "; ") + std::string("ERROR ") + d.error;
    if (reasons.empty()) reasons = "-";
    std::snprintf(buf, sizeof(buf), "%-6s %-28s %10lld %10lld %10lld  ", d.domain.c_str(),
                  files.c_str(), static_cast<long long>(d.rows_read),
                  static_cast<long long>(d.accepted), static_cast<long long>(d.rejected));
    out += buf + reasons + "\n";
    rows += d.rows_read;
    acc += d.accepted;
    rej += d.rejected;
  }
  std::snprintf(buf, sizeof(buf), "%-6s %-28s %10lld %10lld %10lld\n", "total", "",
                static_cast<long long>(rows), static_cast<long long>(acc),
                static_cast<long long>(rej));
  out += buf;
  if (!report.ignored_files.empty()) {
    out += "not imported:";
    for (const auto& f : report.ignored_files) out += " " + f;
    out += "\n";
  }
  std::snprintf(buf, sizeof(buf), "%s in %.2fs; %lld submits (audit records), %lld alerts\n",
                report.dry_run ? "dry run (nothing submitted)" : "imported", report.seconds,
                static_cast<long long>(report.submits), static_cast<long long>(report.alerts));
  out += buf;
  return out;
}

}  // namespace ctml::ingest::sdtm
