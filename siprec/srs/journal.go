package srs

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/voicegw/voicegw/internal/sqlitedb"
)

// A Journal remembers each session from its start until its session
// document is stored, so that a session cut off by a crash still gets one:
// at the next start the Server repairs the recording (recording.Dir.Recover)
// and finds here what the recording file cannot tell (Call-ID, participants,
// recording ID, when it started and, if it got that far, when it ended).
//
// An entry is saved when the session starts (before its answer is sent),
// saved again when its metadata changes and when it ends, and deleted once
// its session document is in the index and its webhook was sent (or gave
// up). Webhooks are therefore sent at least once: a crash between the
// webhook and the deletion sends it again at the next start.
//
// Implementations must be safe for concurrent use. SQLiteJournal is the
// durable one; NewMemoryJournal keeps entries in memory (a crash loses
// them: the recordings are still repaired and uploaded, but the sessions
// cut off get no document).
type Journal interface {
	// Save creates or replaces the entry of e.SessionID.
	Save(ctx context.Context, e *Entry) error
	// Delete forgets a session; deleting one that is not there is not an
	// error.
	Delete(ctx context.Context, sessionID string) error
	// Pending returns every entry, oldest Start first.
	Pending(ctx context.Context) ([]*Entry, error)
}

// Entry is one session in the Journal.
type Entry struct {
	SessionID   string
	Account     string // account SID
	Application string // application SID, "-" for none
	Format      string // "wav", "mp3", or "" when not recorded
	CallID      string
	RecordingID string
	Source      string
	Destination string
	Start       time.Time
	End         time.Time // zero while the session lasts
	StatusCode  int       // insights.StatusCodeOK, Warning or Error
	EndReason   string    // siprec.EndReason.String(), or "interrupted"
	// Lease is the session's key in the licensed-sessions limiter, released
	// at the next start if a crash kept the session from releasing it.
	Lease string
	// Details are the participants, extension data and headers of the
	// call, and what became of its recording (see CallDetails).
	Details CallDetails
}

// memoryJournal is the Journal of NewMemoryJournal.
type memoryJournal struct {
	mu      sync.Mutex
	entries map[string]Entry
}

// NewMemoryJournal returns a Journal that keeps its entries in memory.
func NewMemoryJournal() Journal { return &memoryJournal{entries: map[string]Entry{}} }

func (j *memoryJournal) Save(_ context.Context, e *Entry) error {
	j.mu.Lock()
	j.entries[e.SessionID] = *e
	j.mu.Unlock()
	return nil
}

func (j *memoryJournal) Delete(_ context.Context, id string) error {
	j.mu.Lock()
	delete(j.entries, id)
	j.mu.Unlock()
	return nil
}

func (j *memoryJournal) Pending(context.Context) ([]*Entry, error) {
	j.mu.Lock()
	out := make([]*Entry, 0, len(j.entries))
	for _, e := range j.entries {
		out = append(out, &e)
	}
	j.mu.Unlock()
	slices.SortFunc(out, func(a, b *Entry) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// JournalSchemaName is the name under which SQLiteJournal versions its
// schema in the database (the name it had in examples/gateway, so a data
// directory of an earlier gateway is read as it is).
const JournalSchemaName = "gateway_journal"

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
);`,
	// v2: the call's details (CallDetails as JSON)
	`ALTER TABLE gateway_sessions ADD COLUMN details TEXT NOT NULL DEFAULT '';`}

// SQLiteJournal is a Journal in an SQLite database (table gateway_sessions).
type SQLiteJournal struct {
	db  *sql.DB
	own bool
}

// NewSQLiteJournal returns a Journal in db and brings its schema up to date.
// db is a database/sql handle of the "sqlite" driver (modernc.org/sqlite),
// best opened by an OpenDB of voicegw's SQLite drivers (such as
// tenancy/sqlitestore.OpenDB) and shared with their stores; Close does not
// close it.
func NewSQLiteJournal(ctx context.Context, db *sql.DB) (*SQLiteJournal, error) {
	if err := sqlitedb.Migrate(ctx, db, JournalSchemaName, journalSchema); err != nil {
		return nil, fmt.Errorf("srs: journal: %w", err)
	}
	return &SQLiteJournal{db: db}, nil
}

// OpenSQLiteJournal opens (creating it) the SQLite database at path, with
// the settings voicegw's stores use (WAL, a busy timeout), and returns the
// Journal in it; Close closes the database.
func OpenSQLiteJournal(ctx context.Context, path string) (*SQLiteJournal, error) {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("srs: journal: %w", err)
	}
	j, err := NewSQLiteJournal(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	j.own = true
	return j, nil
}

// Close closes the database when OpenSQLiteJournal opened it.
func (j *SQLiteJournal) Close() error {
	if j.own {
		return j.db.Close()
	}
	return nil
}

// Save implements Journal.
func (j *SQLiteJournal) Save(ctx context.Context, e *Entry) error {
	var end any
	if !e.End.IsZero() {
		end = e.End.UnixMicro()
	}
	details, err := json.Marshal(&e.Details)
	if err != nil {
		return fmt.Errorf("srs: journal: saving session %s: %w", e.SessionID, err)
	}
	_, err = j.db.ExecContext(ctx, `INSERT INTO gateway_sessions(session_id, account_sid, application_sid, format,
		call_id, recording_id, source, destination, started_at, ended_at, status_code, end_reason, lease, details)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(session_id) DO UPDATE SET account_sid = excluded.account_sid, application_sid = excluded.application_sid,
		format = excluded.format, call_id = excluded.call_id, recording_id = excluded.recording_id, source = excluded.source,
		destination = excluded.destination, started_at = excluded.started_at, ended_at = excluded.ended_at,
		status_code = excluded.status_code, end_reason = excluded.end_reason, lease = excluded.lease, details = excluded.details`,
		e.SessionID, e.Account, e.Application, e.Format, e.CallID, e.RecordingID, e.Source, e.Destination,
		e.Start.UnixMicro(), end, e.StatusCode, e.EndReason, e.Lease, string(details))
	if err != nil {
		return fmt.Errorf("srs: journal: saving session %s: %w", e.SessionID, err)
	}
	return nil
}

// Delete implements Journal.
func (j *SQLiteJournal) Delete(ctx context.Context, id string) error {
	if _, err := j.db.ExecContext(ctx, `DELETE FROM gateway_sessions WHERE session_id = ?`, id); err != nil {
		return fmt.Errorf("srs: journal: deleting session %s: %w", id, err)
	}
	return nil
}

// Pending implements Journal.
func (j *SQLiteJournal) Pending(ctx context.Context) ([]*Entry, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT session_id, account_sid, application_sid, format, call_id, recording_id,
		source, destination, started_at, ended_at, status_code, end_reason, lease, details FROM gateway_sessions ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("srs: journal: %w", err)
	}
	defer rows.Close()
	var out []*Entry
	for rows.Next() {
		var e Entry
		var start int64
		var end sql.NullInt64
		var details string
		if err := rows.Scan(&e.SessionID, &e.Account, &e.Application, &e.Format, &e.CallID, &e.RecordingID,
			&e.Source, &e.Destination, &start, &end, &e.StatusCode, &e.EndReason, &e.Lease, &details); err != nil {
			return nil, fmt.Errorf("srs: journal: %w", err)
		}
		if details != "" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, fmt.Errorf("srs: journal: details of session %s: %w", e.SessionID, err)
			}
		}
		e.Start = time.UnixMicro(start).UTC()
		if end.Valid {
			e.End = time.UnixMicro(end.Int64).UTC()
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("srs: journal: %w", err)
	}
	return out, nil
}
