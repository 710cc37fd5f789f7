package sqliteindex

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
)

// groupDoc returns the flattened document of session id.
func groupDoc(t *testing.T, id string) driver.Document {
	t.Helper()
	doc, err := insights.Document(insights.NewCallSession(insights.CallRecord{SessionID: id, AccountID: "AC1",
		Source: "+15550001", Destination: "+15550002", Start: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Format: "wav"}))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// putQueued runs one Put per call while the writer's lock is held, waits
// until every call waits in the queue, then lets them write; it returns
// each call's error.
func putQueued(t *testing.T, d *Driver, calls []func() error) []error {
	t.Helper()
	d.wmu.Lock()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
	}
	waitQueued(d, len(calls))
	d.wmu.Unlock()
	wg.Wait()
	return errs
}

// TestPutGroupsWaitingCalls: Puts that wait while another one writes are
// written together in one transaction, each returning once its documents
// are committed; when the group's transaction fails, each call is written
// alone, so only the call with the bad document (or the canceled context)
// fails and the others' documents are stored.
func TestPutGroupsWaitingCalls(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDriver(ctx, filepath.Join(t.TempDir(), "group.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var calls []func() error
	for i := range 10 {
		doc := groupDoc(t, fmt.Sprint("ok-", i))
		calls = append(calls, func() error { return d.Put(ctx, []driver.Document{doc}) })
	}
	before := d.txs.Load()
	for i, err := range putQueued(t, d, calls) {
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if n := d.txs.Load() - before; n != 1 {
		t.Fatalf("10 waiting Puts took %d transactions, want 1", n)
	}
	for i := range 10 {
		if _, err := d.Find(ctx, "AC1", fmt.Sprint("ok-", i)); err != nil {
			t.Fatalf("ok-%d: %v", i, err)
		}
	}

	bad := groupDoc(t, "bad")
	bad.JSON = nil // NOT NULL: SQLite refuses the row
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	calls = []func() error{
		func() error { return d.Put(ctx, []driver.Document{groupDoc(t, "good-1")}) },
		func() error { return d.Put(ctx, []driver.Document{bad}) },
		func() error { return d.Put(canceled, []driver.Document{groupDoc(t, "gone")}) },
		func() error { return d.Put(ctx, []driver.Document{groupDoc(t, "good-2"), groupDoc(t, "good-3")}) },
	}
	errs := putQueued(t, d, calls)
	if errs[0] != nil || errs[3] != nil {
		t.Fatalf("the good calls failed with the bad one: %v, %v", errs[0], errs[3])
	}
	if errs[1] == nil {
		t.Fatal("the document SQLite refuses was stored")
	}
	if !errors.Is(errs[2], context.Canceled) {
		t.Fatalf("the canceled call = %v, want context.Canceled", errs[2])
	}
	for _, id := range []string{"good-1", "good-2", "good-3"} {
		if _, err := d.Find(ctx, "AC1", id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	for _, id := range []string{"bad", "gone"} {
		if _, err := d.Find(ctx, "AC1", id); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", id, err)
		}
	}
}

// TestPutCanceledLeaderWritesTheGroup: a call given up while it waited
// that takes the queue still writes the others' documents (it once
// returned its own error and left them unwritten, their Puts returning
// nil). Each round queues the canceled call first, so it is most often
// the one woken first.
func TestPutCanceledLeaderWritesTheGroup(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDriver(ctx, filepath.Join(t.TempDir(), "leader.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for round := range 20 {
		id := fmt.Sprint("kept-", round)
		d.wmu.Lock()
		var wg sync.WaitGroup
		var errGone, errKept error
		wg.Go(func() { errGone = d.Put(canceled, []driver.Document{groupDoc(t, fmt.Sprint("gone-", round))}) })
		waitQueued(d, 1)
		wg.Go(func() { errKept = d.Put(ctx, []driver.Document{groupDoc(t, id)}) })
		waitQueued(d, 2)
		time.Sleep(2 * time.Millisecond) // both blocked on wmu, the canceled one first
		d.wmu.Unlock()
		wg.Wait()
		if !errors.Is(errGone, context.Canceled) {
			t.Fatalf("round %d: the canceled call = %v, want context.Canceled", round, errGone)
		}
		if errKept != nil {
			t.Fatalf("round %d: %v", round, errKept)
		}
		if _, err := d.Find(ctx, "AC1", id); err != nil {
			t.Fatalf("round %d: Put returned nil but %s is not stored: %v", round, id, err)
		}
	}
}

// waitQueued waits until n calls wait in d's queue.
func waitQueued(d *Driver, n int) {
	for {
		d.qmu.Lock()
		got := len(d.queue)
		d.qmu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}
