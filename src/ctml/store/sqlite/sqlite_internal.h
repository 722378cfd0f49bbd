// Private RAII helpers over the sqlite3 C API, shared by the SQLite adapters.
// Include only from .cc files of src/ctml/store/.
//
//   CTML_ASSIGN_OR_RETURN(auto db, sqlite_internal::Db::Open(path, "FULL"));
//   CTML_RETURN_NOT_OK(db->Exec("CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v BLOB)"));
//   sqlite_internal::Txn txn(db.get());
//   CTML_RETURN_NOT_OK(txn.Begin());                     // BEGIN IMMEDIATE
//   CTML_ASSIGN_OR_RETURN(auto st, db->Prepare("INSERT INTO t VALUES(?, ?)"));
//   st.Bind(1, "k").Bind(2, "v");
//   CTML_RETURN_NOT_OK(st.Run());
//   CTML_RETURN_NOT_OK(txn.Commit());                    // rolled back if destroyed first
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store::sqlite_internal {

inline Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_errmsg(db) != nullptr) {
    std::string detail = sqlite3_errmsg(db);
    if (detail != sqlite3_errstr(rc)) msg += " (" + detail + ")";
  }
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Unavailable(msg);
  if (primary == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  return Status::IOError(msg);
}

// A prepared statement. Bind indices are 1-based, column indices 0-based.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      if (stmt_ != nullptr) sqlite3_finalize(stmt_);
      db_ = o.db_;
      stmt_ = std::exchange(o.stmt_, nullptr);
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
  }

  Stmt& Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, const std::string& text) { return Bind(i, std::string_view(text)); }
  Stmt& Bind(int i, const char* text) { return Bind(i, std::string_view(text)); }
  Stmt& BindBlob(int i, std::string_view bytes) {
    // A zero-length blob must not bind as NULL: pass a non-null pointer.
    static const char kEmpty = 0;
    sqlite3_bind_blob(stmt_, i, bytes.empty() ? &kEmpty : bytes.data(),
                      static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int32_t v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }

  // One step: true when a row is available, false when done.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, "sqlite step");
  }
  // Steps to completion and returns column `col` of every row as text.
  Result<std::vector<std::string>> TextColumn(int col = 0) {
    std::vector<std::string> out;
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return out;
      out.push_back(Text(col));
    }
  }
  // Steps to completion (for statements without rows).
  Status Run() {
    for (;;) {
      CTML_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::OK();
    }
  }
  Status Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return Status::OK();
  }

  int64_t Int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    if (p == nullptr || n <= 0) return {};
    return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection. Not thread-safe by itself: the adapters guard it with a mutex.
class Db {
 public:
  // Opens (creating) `path` in WAL mode with a busy timeout; `synchronous` is NORMAL or FULL.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, const std::string& synchronous,
                                          int busy_timeout_ms = 5000) {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<Db> db(new Db(raw));
    if (rc != SQLITE_OK) return SqliteError(raw, rc, "sqlite open " + path);
    sqlite3_busy_timeout(raw, busy_timeout_ms);
    sqlite3_extended_result_codes(raw, 1);
    // journal_mode=WAL is persistent in the file; setting it again is a no-op.
    CTML_RETURN_NOT_OK(db->Exec("PRAGMA journal_mode=WAL"));
    CTML_RETURN_NOT_OK(db->Exec("PRAGMA synchronous=" + synchronous));
    CTML_RETURN_NOT_OK(db->Exec("PRAGMA foreign_keys=ON"));
    return db;
  }
  // Open() then applies `schema` (idempotent DDL) in one write transaction.
  static Result<std::unique_ptr<Db>> OpenWithSchema(const std::string& path,
                                                    const std::string& synchronous,
                                                    const char* schema, int busy_timeout_ms = 5000);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() {
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (err != nullptr) sqlite3_free(err);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "sqlite exec");
    return Status::OK();
  }
  Result<Stmt> Prepare(std::string_view sql) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "sqlite prepare");
    return Stmt(db_, st);
  }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A write transaction (BEGIN IMMEDIATE: takes the write lock up front, so two processes cannot
// both read-then-write the same rows). Rolled back when destroyed without Commit().
class Txn {
 public:
  explicit Txn(Db* db) : db_(db) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (open_) (void)db_->Exec("ROLLBACK");
  }
  Status Begin() {
    CTML_RETURN_NOT_OK(db_->Exec("BEGIN IMMEDIATE"));
    open_ = true;
    return Status::OK();
  }
  Status Commit() {
    Status st = db_->Exec("COMMIT");
    if (st.ok()) open_ = false;
    return st;
  }

 private:
  Db* db_;
  bool open_ = false;
};

// A read transaction (a consistent snapshot across several SELECTs).
class ReadTxn {
 public:
  explicit ReadTxn(Db* db) : db_(db) {}
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  ~ReadTxn() {
    if (open_) (void)db_->Exec("COMMIT");
  }
  Status Begin() {
    CTML_RETURN_NOT_OK(db_->Exec("BEGIN DEFERRED"));
    open_ = true;
    return Status::OK();
  }

 private:
  Db* db_;
  bool open_ = false;
};

inline Result<std::unique_ptr<Db>> Db::OpenWithSchema(const std::string& path,
                                                      const std::string& synchronous,
                                                      const char* schema, int busy_timeout_ms) {
  CTML_ASSIGN_OR_RETURN(auto db, Open(path, synchronous, busy_timeout_ms));
  Txn txn(db.get());
  CTML_RETURN_NOT_OK(txn.Begin());
  CTML_RETURN_NOT_OK(db->Exec(schema));
  CTML_RETURN_NOT_OK(txn.Commit());
  return db;
}

}  // namespace ctml::store::sqlite_internal
