package srs

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/sqlitedb"
)

// TestJournal runs the same checks over every Journal: what Save wrote
// Pending returns as it was (oldest first), a second Save replaces, Delete
// forgets (and is idempotent), and the SQLite journal keeps its entries
// over a reopening of the database.
func TestJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	for _, tc := range []struct {
		name   string
		open   func(t *testing.T) Journal
		reopen func(t *testing.T) Journal // nil: not durable
	}{
		{"memory", func(*testing.T) Journal { return NewMemoryJournal() }, nil},
		{"sqlite", func(t *testing.T) Journal {
			j, err := OpenSQLiteJournal(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = j.Close() })
			return j
		}, func(t *testing.T) Journal {
			// a database opened by database/sql alone, as a user would
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			j, err := NewSQLiteJournal(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			return j
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.open(t)
			start := time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.UTC)
			a := &Entry{SessionID: "s-a", Account: "AC1", Application: "AP1", Format: "wav", CallID: "c1@x",
				RecordingID: "r1", Source: "alice@x", Destination: "bob@x", Start: start.Add(time.Minute), Lease: "l1",
				Details: CallDetails{
					Participants: []insights.Participant{{ID: "p1", Name: "Alice", AOR: "sip:alice@x", User: "alice", Send: []string{"1"},
						ExtensionData: map[string][]string{"agentId": {"7"}}}, {ID: "p2", AOR: "tel:+1555", User: "+1555", Left: true}},
					ExtensionData: map[string][]string{"ucid": {"00FA08"}}, SIPSessionIDs: []string{"ab30317f"},
					Headers: map[string]string{"SIP.X_Customer_ID": "cust-9"}, Repaired: true,
				}}
			b := &Entry{SessionID: "s-b", Account: "AC2", Application: "-", Start: start}
			for _, e := range []*Entry{a, b} {
				if err := j.Save(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			got, err := j.Pending(ctx)
			if err != nil || len(got) != 2 || !reflect.DeepEqual(*got[0], *b) || !reflect.DeepEqual(*got[1], *a) {
				t.Fatalf("Pending = %+v, %v; want b then a", got, err)
			}
			ended := *a
			ended.End, ended.StatusCode, ended.EndReason, ended.Source = start.Add(2*time.Minute), 100, "shutdown", "carol@x"
			if err := j.Save(ctx, &ended); err != nil {
				t.Fatal(err)
			}
			if err := j.Delete(ctx, "s-b"); err != nil {
				t.Fatal(err)
			}
			if err := j.Delete(ctx, "s-b"); err != nil {
				t.Fatalf("a second Delete: %v", err)
			}
			check := func(j Journal) {
				got, err := j.Pending(ctx)
				if err != nil || len(got) != 1 || !reflect.DeepEqual(*got[0], ended) {
					t.Fatalf("Pending = %+v, %v; want only %+v", got, err, ended)
				}
			}
			check(j)
			if tc.reopen != nil {
				check(tc.reopen(t))
			}
		})
	}
}

// A journal written by an earlier version (schema v1, without the
// details column) is migrated when opened and its entries read back.
func TestJournalMigratesV1(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := sqlitedb.Migrate(ctx, db, JournalSchemaName, journalSchema[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO gateway_sessions(session_id, account_sid, application_sid, started_at) VALUES('old', 'AC1', 'AP1', 1)`); err != nil {
		t.Fatal(err)
	}
	j, err := NewSQLiteJournal(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := j.Pending(ctx)
	if err != nil || len(got) != 1 || got[0].SessionID != "old" || !reflect.DeepEqual(got[0].Details, CallDetails{}) {
		t.Fatalf("Pending after the migration = %+v, %v", got, err)
	}
}
