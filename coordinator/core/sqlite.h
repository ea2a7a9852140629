#pragma once
// A small RAII layer over the SQLite C API: one connection, prepared
// statements cached by their SQL text, and transactions that roll back unless
// committed. Not thread-safe: the owner serializes access.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align::coordinator {

class Database;

// A cached prepared statement in use. Bind, then Step() until it returns
// false; the destructor resets the statement for its next user.
class Statement {
 public:
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);  // NaN is stored as NULL
  Statement& Bind(int index, absl::string_view value);
  Statement& Bind(int index, const std::string& value) { return Bind(index, absl::string_view(value)); }
  Statement& Bind(int index, const char* value) { return Bind(index, absl::string_view(value)); }
  Statement& Bind(int index, std::optional<int64_t> value);
  Statement& BindNull(int index);

  // True while a row is available.
  absl::StatusOr<bool> Step();
  // Runs to completion, for statements without results.
  absl::Status Run();

  int64_t ColumnInt(int column) const;
  std::optional<int64_t> ColumnOptionalInt(int column) const;
  double ColumnDouble(int column) const;  // NULL reads as NaN
  std::string ColumnText(int column) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Database* db_;
  sqlite3_stmt* stmt_;
  absl::Status bind_status_;
};

class Database {
 public:
  // Opens (creating if needed) the file in WAL mode with a busy timeout, so a
  // second process reading the file (sqlite3, backups) does not fail writers.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path, int busy_timeout_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without parameters (schema, pragmas).
  absl::Status Exec(const std::string& sql);
  // A cached prepared statement; the SQL is compiled once per connection.
  absl::StatusOr<Statement> Prepare(const std::string& sql);
  int64_t LastInsertRowId() const;
  int Changes() const;
  const std::string& path() const { return path_; }

  absl::Status Error(absl::string_view what) const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// BEGIN IMMEDIATE (takes the write lock up front, so a transaction never
// fails half-way on a lock upgrade); rolls back on destruction unless
// Commit() succeeded.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace align::coordinator
