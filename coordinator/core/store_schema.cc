#include "coordinator/core/store_schema.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace align::coordinator {

namespace {

// migrations[i] brings a file from version i to i + 1. Append only: a
// released migration is never edited.
const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  spec_yaml TEXT NOT NULL,
  base_dir TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN
      ('queued', 'running', 'interrupted', 'succeeded', 'failed', 'cancelled')),
  steps_done INTEGER NOT NULL DEFAULT 0,
  total_steps INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  started_ms INTEGER,
  finished_ms INTEGER,
  run_started_ms INTEGER,
  run_start_step INTEGER NOT NULL DEFAULT 0,
  group_id TEXT NOT NULL DEFAULT '',
  last_checkpoint_step INTEGER,
  last_checkpoint_path TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL DEFAULT 1,
  attempts INTEGER NOT NULL DEFAULT 0,
  metrics_step INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs (id),
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_job ON events (job_id, seq);
CREATE TABLE job_metrics (
  job_id INTEGER NOT NULL REFERENCES jobs (id),
  name TEXT NOT NULL,
  value REAL,
  step INTEGER NOT NULL,
  PRIMARY KEY (job_id, name)
) WITHOUT ROWID;
)sql",
      // 1 -> 2: who submitted each job, and the key that makes a retried submit
      // find the job its first attempt created.
      R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN submit_key TEXT;
CREATE UNIQUE INDEX jobs_by_submit_key ON jobs (owner, submit_key) WHERE submit_key IS NOT NULL;
)sql",
      // 2 -> 3: job chains. A queued job waits for the jobs of its rows in
      // job_dependencies; submission_id is the first job of the submit that
      // created it, so a retried submit of several jobs finds them all (NULL
      // in rows older than chains: a submission of that one job).
      R"sql(
CREATE TABLE job_dependencies (
  job_id INTEGER NOT NULL REFERENCES jobs (id),
  after_id INTEGER NOT NULL REFERENCES jobs (id),
  PRIMARY KEY (job_id, after_id)
) WITHOUT ROWID;
CREATE INDEX job_dependencies_by_after ON job_dependencies (after_id, job_id);
ALTER TABLE jobs ADD COLUMN submission_id INTEGER;
CREATE INDEX jobs_by_submission ON jobs (submission_id) WHERE submission_id IS NOT NULL;
)sql",
      // 3 -> 4: restart_strikes counts the attempts in a row that a
      // coordinator restart interrupted before they made progress (the
      // crash-loop guard); last_checkpoint_attempt is the attempt that wrote
      // last_checkpoint_step (NULL: written before attempts were recorded).
      R"sql(
ALTER TABLE jobs ADD COLUMN restart_strikes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_checkpoint_attempt INTEGER;
)sql",
  };
  return migrations;
}

}  // namespace

absl::Status ApplySchema(Database& db) {
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  int64_t version = 0;
  bool has_row = false;
  {
    ASSIGN_OR_RETURN(Statement select, db.Prepare("SELECT version FROM schema_version"));
    ASSIGN_OR_RETURN(has_row, select.Step());
    if (has_row) version = select.ColumnInt(0);
  }
  const int64_t known = static_cast<int64_t>(Migrations().size());
  static_assert(kSchemaVersion >= 1);
  if (known != kSchemaVersion) return absl::InternalError("schema migrations and kSchemaVersion disagree");
  if (version > known) {
    return absl::FailedPreconditionError(
        absl::StrCat(db.path(), " has schema version ", version, ", newer than this coordinator's (", known,
                     "): run a newer align-coordinator or restore a backup"));
  }
  for (int64_t v = version; v < known; ++v) {
    RETURN_IF_ERROR(db.Exec(Migrations()[v]));
  }
  if (!has_row) {
    ASSIGN_OR_RETURN(Statement insert, db.Prepare("INSERT INTO schema_version (version) VALUES (?)"));
    RETURN_IF_ERROR(insert.Bind(1, known).Run());
  } else if (version != known) {
    ASSIGN_OR_RETURN(Statement update, db.Prepare("UPDATE schema_version SET version = ?"));
    RETURN_IF_ERROR(update.Bind(1, known).Run());
  }
  return txn.Commit();
}

}  // namespace align::coordinator
