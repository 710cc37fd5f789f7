package rbac_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
)

// With MaxConcurrent hashes in flight, a sign-in waits for a slot instead of
// computing one more hash (a flood of sign-ins cannot take Memory times
// their number), gives up with its context, and goes through once a slot is
// free. The slots are taken directly, standing for hashes in flight, so the
// test needs no timing.
func TestPasswordHashesBoundedByMaxConcurrent(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewMemberStore(&rbac.StoreOptions{Passwords: rbac.PasswordParams{Memory: 64, Time: 1, MaxConcurrent: 2}})
	m, err := s.CreateMember(ctx, &rbac.Member{Email: "ada@example.com", Scope: rbac.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, m.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	slots := rbac.HashSlots(s)
	if cap(slots) != 2 {
		t.Fatalf("MaxConcurrent 2 made %d hashing slots", cap(slots))
	}
	slots <- struct{}{}
	slots <- struct{}{}
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		waiting := &endsWhenWaiting{Context: ctx}
		if _, err := s.VerifyPassword(waiting, email, "correct horse battery"); !errors.Is(err, errGaveUp) {
			t.Fatalf("VerifyPassword(%s) with every slot taken = %v, want it to wait and end with its context", email, err)
		}
	}
	<-slots
	if got, err := s.VerifyPassword(ctx, "ada@example.com", "correct horse battery"); err != nil || got.ID != m.ID {
		t.Fatalf("VerifyPassword with a slot free = %v, %v", got, err)
	}
	if len(slots) != 1 {
		t.Fatalf("%d slots taken after the check, want the one the test holds: the check kept its slot", len(slots))
	}
	if cap(rbac.HashSlots(memstore.NewMemberStore(nil))) != 4 {
		t.Fatal("the default MaxConcurrent is not 4 slots")
	}
}

var errGaveUp = errors.New("gave up waiting")

// endsWhenWaiting is a context that ends as soon as something waits on it
// (calls Done): the store's reads, which only ask Err, go through, and a
// wait for a hashing slot ends at once with errGaveUp.
type endsWhenWaiting struct {
	context.Context
	waited atomic.Bool
}

func (c *endsWhenWaiting) Done() <-chan struct{} {
	c.waited.Store(true)
	done := make(chan struct{})
	close(done)
	return done
}

func (c *endsWhenWaiting) Err() error {
	if c.waited.Load() {
		return errGaveUp
	}
	return nil
}
