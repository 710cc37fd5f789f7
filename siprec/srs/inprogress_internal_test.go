package srs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/tenancy"
)

// putCountingDriver is the in-memory index driver, counting its Put calls and
// the documents each wrote.
type putCountingDriver struct {
	*memindex.Driver
	mu   sync.Mutex
	puts []int
}

func (d *putCountingDriver) Put(ctx context.Context, docs []driver.Document) error {
	d.mu.Lock()
	d.puts = append(d.puts, len(docs))
	d.mu.Unlock()
	return d.Driver.Put(ctx, docs)
}

// TestInProgressDocumentsGrouped: the in-progress documents of sessions
// set up in a burst are written in one Put; a session queued twice (its
// metadata changed) is written once, with its latest entry; a session whose
// end document was written before the group is not overwritten by its
// in-progress one.
func TestInProgressDocumentsGrouped(t *testing.T) {
	bg, stop := context.WithCancel(context.Background())
	defer stop()
	drv := &putCountingDriver{Driver: memindex.NewDriver()}
	idx := insights.NewIndex(drv)
	defer idx.Close()
	s := &Server{cfg: Config{Index: idx}, docs: newDocLocks(), bg: bg, log: slog.New(slog.DiscardHandler)}
	acct := &tenancy.Account{SID: tenancy.NewSID()}
	start := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	session := func(id string) *Session {
		return &Session{adm: &Admission{Account: acct}, log: s.log,
			entry: Entry{SessionID: id, Account: string(acct.SID), Start: start, Source: "+15550001"}}
	}
	var all []*Session
	for i := range 20 {
		ss := session(fmt.Sprint("burst-", i))
		all = append(all, ss)
		s.storeInProgress(ss)
	}
	ended := session("ended")
	ended.docDone = true // its end document is stored: the in-progress one must not replace it
	s.storeInProgress(ended)
	all[3].mu.Lock()
	all[3].entry.Source = "+15550099" // UpdateMetadata: queued again
	all[3].mu.Unlock()
	s.storeInProgress(all[3])
	s.bgWG.Wait() // the writer ends once nothing is left

	drv.mu.Lock()
	puts := drv.puts
	drv.mu.Unlock()
	if len(puts) != 1 || puts[0] != 20 {
		t.Fatalf("Puts of %v documents; want one Put of 20", puts)
	}
	ctx := context.Background()
	for _, ss := range all {
		doc, err := idx.Find(ctx, string(acct.SID), ss.ID())
		if err != nil {
			t.Fatalf("%s: %v", ss.ID(), err)
		}
		if doc.Status != insights.StatusInProgress {
			t.Fatalf("%s: status %q", ss.ID(), doc.Status)
		}
	}
	if doc, _ := idx.Find(ctx, string(acct.SID), "burst-3"); doc.Source != "+15550099" {
		t.Fatalf("burst-3's source = %q, want its latest", doc.Source)
	}
	if _, err := idx.Find(ctx, string(acct.SID), "ended"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("the ended session's in-progress document was written: %v", err)
	}

	// Queued while the Server stops: not written, the writer ends.
	s.storeInProgress(session("late"))
	stop()
	s.bgWG.Wait()
	if _, err := idx.Find(ctx, string(acct.SID), "late"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("written after the Server stopped: %v", err)
	}
	s.inProg.mu.Lock()
	defer s.inProg.mu.Unlock()
	if s.inProg.writing || len(s.inProg.pending) != 0 {
		t.Fatal("the queue is not empty after the Server stopped")
	}
}

// TestDocLocksMany: lockMany takes each lock once, whatever the number of
// sessions sharing it (65 sessions share at least one of 64 locks), and
// its unlock frees every one.
func TestDocLocksMany(t *testing.T) {
	l := newDocLocks()
	ids := make([]string, 65)
	for i := range ids {
		ids[i] = fmt.Sprint("s-", i)
	}
	unlock := l.lockMany(ids)
	unlock()
	for _, id := range ids {
		l.lock(id)()
	}
}

// TestPutDocsGrouped: documents stored by several goroutines meanwhile
// (sessions ending in a burst) are written in one Put, each caller getting
// its own document's result: when the group fails, the documents are
// written one by one, so only the bad one fails. A write "now" (the
// in-progress group) takes the documents waiting with it.
func TestPutDocsGrouped(t *testing.T) {
	ctx := context.Background()
	drv := &putCountingDriver{Driver: memindex.NewDriver()}
	idx := insights.NewIndex(drv)
	defer idx.Close()
	s := &Server{cfg: Config{Index: idx}, bg: ctx}
	start := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	doc := func(id string) *insights.Session {
		return insights.NewCallSession(insights.CallRecord{SessionID: id, AccountID: "AC1", Start: start, End: start.Add(time.Minute)})
	}
	// waiting runs one putDocs per document, no flush scheduled, and waits
	// until all of them wait.
	waiting := func(docs []*insights.Session) []chan error {
		s.docBatch.mu.Lock()
		s.docBatch.timer = time.NewTimer(time.Hour) // a flush "scheduled": none starts
		s.docBatch.timer.Stop()
		s.docBatch.mu.Unlock()
		res := make([]chan error, len(docs))
		for i, d := range docs {
			res[i] = make(chan error, 1)
			go func() { res[i] <- s.putDocs(ctx, false, d)[0] }()
		}
		for {
			s.docBatch.mu.Lock()
			n := len(s.docBatch.pending)
			s.docBatch.mu.Unlock()
			if n == len(docs) {
				return res
			}
			time.Sleep(time.Millisecond)
		}
	}
	var docs []*insights.Session
	for i := range 10 {
		docs = append(docs, doc(fmt.Sprint("end-", i)))
	}
	res := waiting(docs)
	s.flushDocs()
	for i, c := range res {
		if err := <-c; err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
	}
	bad := doc("")
	res = waiting([]*insights.Session{doc("ok-1"), bad, doc("ok-2")})
	if errs := s.putDocs(ctx, true, doc("now")); errs[0] != nil {
		t.Fatalf("the document written now: %v", errs[0])
	}
	got := []error{<-res[0], <-res[1], <-res[2]}
	if got[0] != nil || got[2] != nil || !errors.Is(got[1], insights.ErrInvalidSession) {
		t.Fatalf("results %v; want nil, ErrInvalidSession, nil", got)
	}
	drv.mu.Lock()
	puts := drv.puts
	drv.mu.Unlock()
	if len(puts) == 0 || puts[0] != 10 {
		t.Fatalf("Puts of %v documents; the first should hold the 10 waiting", puts)
	}
	for _, id := range []string{"ok-1", "ok-2", "now", "end-7"} {
		if _, err := idx.Find(ctx, "AC1", id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
}
