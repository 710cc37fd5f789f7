package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
)

// The journal remembers each session from its start until its session
// document is stored, so that a session cut off by a crash still gets one:
// at the next start the gateway repairs the recording (recording.Dir.Recover)
// and finds here what the recording file cannot tell (Call-ID, participants,
// recording ID, when it started and, if it got that far, when it ended).
//
// A row is written when the session starts (before its answer is sent),
// updated when its metadata changes and when it ends, and deleted once its
// session document is in the index and its webhook was sent (or gave up).
// Webhooks are therefore sent at least once: a crash between the webhook and
// the deletion sends it again at the next start.

var journalSchema = []string{`
CREATE TABLE gateway_sessions (
	session_id      TEXT PRIMARY KEY,
	account_sid     TEXT NOT NULL,
	application_sid TEXT NOT NULL,
	format          TEXT NOT NULL DEFAULT '',
	call_id         TEXT NOT NULL DEFAULT '',
	recording_id    TEXT NOT NULL DEFAULT '',
	source          TEXT NOT NULL DEFAULT '',
	destination     TEXT NOT NULL DEFAULT '',
	started_at      INTEGER NOT NULL,
	ended_at        INTEGER,
	status_code     INTEGER NOT NULL DEFAULT 0,
	end_reason      TEXT NOT NULL DEFAULT '',
	lease           TEXT NOT NULL DEFAULT ''
);`}

// journalEntry is one session in the journal.
type journalEntry struct {
	SessionID   string
	Account     string
	Application string
	Format      string // "wav", "mp3", or "" when not recorded
	CallID      string
	RecordingID string
	Source      string
	Destination string
	Start       time.Time
	End         time.Time // zero while the session lasts
	StatusCode  int
	EndReason   string
	// Lease is the session's key in the licensed-sessions limiter, released
	// at the next start if a crash kept the session from releasing it.
	Lease string
}

type journal struct{ db *sql.DB }

func openJournal(ctx context.Context, db *sql.DB) (*journal, error) {
	if err := sqlitedb.Migrate(ctx, db, "gateway_journal", journalSchema); err != nil {
		return nil, err
	}
	return &journal{db: db}, nil
}

// begin records a session that starts.
func (j *journal) begin(ctx context.Context, e *journalEntry) error {
	_, err := j.db.ExecContext(ctx, `INSERT INTO gateway_sessions(session_id, account_sid, application_sid, format,
		call_id, recording_id, source, destination, started_at, lease) VALUES(?,?,?,?,?,?,?,?,?,?)`,
		e.SessionID, e.Account, e.Application, e.Format, e.CallID, e.RecordingID, e.Source, e.Destination, e.Start.UnixMicro(), e.Lease)
	if err != nil {
		return fmt.Errorf("journal: begin %s: %w", e.SessionID, err)
	}
	return nil
}

// update records new participants or a new recording ID.
func (j *journal) update(ctx context.Context, id, source, destination, recordingID string) error {
	_, err := j.db.ExecContext(ctx, `UPDATE gateway_sessions SET source = ?, destination = ?, recording_id = ? WHERE session_id = ?`,
		source, destination, recordingID, id)
	return err
}

// end records how a session ended.
func (j *journal) end(ctx context.Context, id string, at time.Time, status int, reason string) error {
	_, err := j.db.ExecContext(ctx, `UPDATE gateway_sessions SET ended_at = ?, status_code = ?, end_reason = ? WHERE session_id = ?`,
		at.UnixMicro(), status, reason, id)
	return err
}

// done forgets a session whose document is stored.
func (j *journal) done(ctx context.Context, id string) error {
	_, err := j.db.ExecContext(ctx, `DELETE FROM gateway_sessions WHERE session_id = ?`, id)
	return err
}

// pending returns every session left in the journal (by a crash, or by a
// failure to store the document), oldest first.
func (j *journal) pending(ctx context.Context) ([]*journalEntry, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT session_id, account_sid, application_sid, format, call_id, recording_id,
		source, destination, started_at, ended_at, status_code, end_reason, lease FROM gateway_sessions ORDER BY started_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*journalEntry
	for rows.Next() {
		var e journalEntry
		var start int64
		var end sql.NullInt64
		if err := rows.Scan(&e.SessionID, &e.Account, &e.Application, &e.Format, &e.CallID, &e.RecordingID,
			&e.Source, &e.Destination, &start, &end, &e.StatusCode, &e.EndReason, &e.Lease); err != nil {
			return nil, err
		}
		e.Start = time.UnixMicro(start).UTC()
		if end.Valid {
			e.End = time.UnixMicro(end.Int64).UTC()
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}
