#include "coordinator/core/sqlite.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/core/log.h"

namespace align::coordinator {

namespace {

absl::Status StatusFromCode(int code, absl::string_view message) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement& Statement::Bind(int index, int64_t value) {
  if (bind_status_.ok() && sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK)
    bind_status_ = db_->Error("bind");
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (std::isnan(value)) return BindNull(index);
  if (bind_status_.ok() && sqlite3_bind_double(stmt_, index, value) != SQLITE_OK)
    bind_status_ = db_->Error("bind");
  return *this;
}

Statement& Statement::Bind(int index, absl::string_view value) {
  if (bind_status_.ok() &&
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8) != SQLITE_OK)
    bind_status_ = db_->Error("bind");
  return *this;
}

Statement& Statement::Bind(int index, std::optional<int64_t> value) {
  return value.has_value() ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  if (bind_status_.ok() && sqlite3_bind_null(stmt_, index) != SQLITE_OK) bind_status_ = db_->Error("bind");
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  RETURN_IF_ERROR(bind_status_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(absl::StrCat("executing \"", sqlite3_sql(stmt_), "\""));
}

absl::Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<int64_t> Statement::ColumnOptionalInt(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, column);
}

double Statement::ColumnDouble(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    const std::string message =
        absl::StrCat("cannot open ", path, ": ", raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    sqlite3_close(raw);
    return StatusFromCode(rc, message);
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  // WAL lets readers (sqlite3 on the file, backups) run beside the writer;
  // synchronous=FULL because a job id handed to a user must survive a power cut.
  ASSIGN_OR_RETURN(Statement mode, db->Prepare("PRAGMA journal_mode=WAL"));
  ASSIGN_OR_RETURN(bool row, mode.Step());
  if (!row || mode.ColumnText(0) != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot switch to WAL journal mode (got \"",
                                                      row ? mode.ColumnText(0) : "", "\")"));
  }
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return db;
}

Database::~Database() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Database::Error(absl::string_view what) const {
  return StatusFromCode(sqlite3_extended_errcode(db_), absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status Database::Exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  const std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return StatusFromCode(rc, absl::StrCat(path_, ": ", text));
}

absl::StatusOr<Statement> Database::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                           nullptr) != SQLITE_OK) {
      return Error(absl::StrCat("preparing \"", sql, "\""));
    }
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(this, it->second);
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int Database::Changes() const { return sqlite3_changes(db_); }

absl::StatusOr<Transaction> Transaction::Begin(Database& db) {
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ == nullptr) return;
  // A destructor cannot return the error: it is logged, since the connection
  // then refuses the next BEGIN ("within a transaction").
  if (absl::Status rolled_back = db_->Exec("ROLLBACK"); !rolled_back.ok()) {
    LogLine(absl::StrCat("cannot roll back a transaction: ", rolled_back.ToString()));
  }
}

absl::Status Transaction::Commit() {
  RETURN_IF_ERROR(db_->Exec("COMMIT"));
  db_ = nullptr;
  return absl::OkStatus();
}

}  // namespace align::coordinator
