package siprec

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/sipptest"
)

// TestSRSHangupSipp: Session.Hangup ends a recording session with a BYE
// that sipp (the recording client) receives in its dialog with
// Reason: SIP ;cause=500;text="Recording failed: disk full" (checked by the
// scenario, srs_hangup.xml); the sink gets End with EndHangup; UDP and TCP.
func TestSRSHangupSipp(t *testing.T) {
	sipptest.Path(t)
	for _, tr := range []sipptest.Transport{sipptest.UDP, sipptest.TCP} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			e := newSRSEnv(t, Config{})
			dir := srsSippDir(t, "srs_hangup.xml")
			mp, mp2 := srsMediaPorts(t)
			p := sipptest.Start(t, sipptest.Options{
				Scenario:  filepath.Join(dir, "srs_hangup.xml"),
				Remote:    e.addr,
				Transport: tr,
				Dir:       dir,
				Args:      []string{"-s", "srs", "-mp", strconv.Itoa(mp), "-key", "mp2", strconv.Itoa(mp2)},
				Timeout:   30 * time.Second,
			})
			k := e.sinks.wait(t)
			srsEventually(t, "the session registered", func() bool { return len(e.srs.Sessions()) == 1 })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := k.sess.Hangup(ctx, 500, "Recording failed: disk full"); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			if r := k.waitEnd(t); r != EndHangup {
				t.Errorf("end reason %v, want hangup", r)
			}
			if err := k.sess.Hangup(ctx, 500, "again"); !errors.Is(err, ErrSessionEnded) {
				t.Errorf("second Hangup: %v, want ErrSessionEnded", err)
			}
			e.waitPortsFree()
		})
	}
}

// TestSRSHangup: the BYE of Session.Hangup as the harness client receives
// it: in the dialog, with the Reason header, the text made safe for a
// quoted string; a bad cause is refused and leaves the session alone; a
// session whose 2xx is not ACKed yet gets its BYE after the ACK; a Server
// without a SIP client ends the session and says it sent no BYE.
func TestSRSHangup(t *testing.T) {
	t.Parallel()
	t.Run("reason", func(t *testing.T) {
		t.Parallel()
		var released atomic.Int32
		e := newSRSEnv(t, Config{Policy: PolicyFunc(func(context.Context, *Offer) (Admission, error) {
			return Admission{Release: func() { released.Add(1) }}, nil
		})})
		cl := newSRSClient(t, e)
		srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1", "2")...), srsMetadataFor("", "1", "2"), false))
		k := e.sinks.wait(t)
		for _, cause := range []int{0, 199, 700, -500} {
			if err := k.sess.Hangup(t.Context(), cause, "x"); !errors.Is(err, ErrInvalidCause) {
				t.Errorf("cause %d: %v, want ErrInvalidCause", cause, err)
			}
		}
		if k.sess.Ended() || cl.byeCount() != 0 {
			t.Fatal("a refused Hangup ended the session")
		}
		if err := k.sess.Hangup(t.Context(), 503, "disk \"full\"\r\nX-Injected: 1\\"); err != nil {
			t.Fatal(err)
		}
		if r := k.waitEnd(t); r != EndHangup {
			t.Errorf("end reason %v", r)
		}
		if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2", "end"}) {
			t.Errorf("sink events %v", got)
		}
		srsEventually(t, "the BYE", func() bool { return cl.byeCount() == 1 })
		cl.mu.Lock()
		bye := cl.byes[0]
		cl.mu.Unlock()
		if got := callID(bye); got != cl.callID {
			t.Errorf("BYE Call-ID %q, want the dialog's %q", got, cl.callID)
		}
		if fromTag(bye) != toTagOf(cl.to) || toTag(bye) != cl.fromTag {
			t.Errorf("BYE tags from %q to %q, want the dialog's", fromTag(bye), toTag(bye))
		}
		h := bye.GetHeader("Reason")
		if h == nil || h.Value() != `SIP ;cause=503;text="disk 'full'''X-Injected: 1'"` {
			t.Errorf("Reason %v", h)
		}
		if bye.GetHeader("X-Injected") != nil {
			t.Error("the text injected a header")
		}
		if released.Load() != 1 || len(e.srs.Sessions()) != 0 {
			t.Errorf("released %d, sessions %d", released.Load(), len(e.srs.Sessions()))
		}
		e.waitPortsFree()
	})
	t.Run("after the ACK", func(t *testing.T) {
		t.Parallel()
		e := newSRSEnv(t, Config{})
		cl := newSRSClient(t, e)
		inv := cl.offerRequest(sipgosip.INVITE, srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"))
		srsAnswerOf(t, cl.do(inv, true))
		k := e.sinks.wait(t)
		done := make(chan error, 1)
		go func() { done <- k.sess.Hangup(t.Context(), 480, "") }()
		time.Sleep(100 * time.Millisecond) // Hangup waits for the ACK (RFC 3261 §15)
		if n := cl.byeCount(); n != 0 {
			t.Fatalf("%d BYEs before the ACK", n)
		}
		ack := cl.request(sipgosip.ACK, "", nil)
		ack.CSeq().SeqNo = inv.CSeq().SeqNo
		if err := cl.c.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cl.mu.Lock()
		h := cl.byes[0].GetHeader("Reason")
		cl.mu.Unlock()
		if h == nil || h.Value() != "SIP ;cause=480" {
			t.Errorf("Reason %v, want cause 480 without text", h)
		}
	})
	t.Run("no client", func(t *testing.T) {
		t.Parallel()
		sinks := newSRSSinks()
		srs, err := NewServer(Config{Ports: srsPool(t, 2), Sinks: sinks, Logger: srsDiscard})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := sipgosip.ParseMessage(srsRawInvite(t, 1, "TCP", "hangup-noclient"))
		if err != nil {
			t.Fatal(err)
		}
		inv := msg.(*sipgosip.Request)
		tx := newSRSFakeTx()
		srs.Handle(t.Context(), inv, tx)
		srs.Handle(t.Context(), srsInDialog(sipgosip.ACK, inv, tx.last()), newSRSFakeTx())
		k := sinks.wait(t)
		if err := k.sess.Hangup(t.Context(), 500, "no client"); !errors.Is(err, ErrNoClient) {
			t.Errorf("Hangup without a client: %v, want ErrNoClient", err)
		}
		if r := k.waitEnd(t); r != EndHangup || srs.ports.InUse() != 0 {
			t.Errorf("end %v, ports in use %d", r, srs.ports.InUse())
		}
	})
}
