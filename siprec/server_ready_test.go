package siprec

import (
	"context"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
)

// TestSRSAnswersOnceStreamsAreRead checks that the 200 OK giving a stream's
// port leaves only once the stream's Receiver reads its socket (with a
// Poller: a worker has the socket, and its port is steered when the Poller
// steers). The Poller's one worker is held in another Receiver's Handler,
// so that no socket can be registered with it: no answer may come until it
// is let go. Before, the Receivers were started in goroutines and the 200
// OK sent at once; a client sends RTP as soon as it has the answer, which
// waited in the stream's own socket until its registration, overflowing it
// when that came late (a busy one-core gateway) and read after later
// packets.
func TestSRSAnswersOnceStreamsAreRead(t *testing.T) {
	t.Parallel()
	p, err := media.NewPoller(media.PollerConfig{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() }) // after the server's shutdown (registered later, run first)
	if !p.Native() {
		t.Skip("the Poller has no workers on this system: each Receiver reads its own socket")
	}

	release := holdWorker(t, p)

	e := newSRSEnv(t, Config{Receiver: media.ReceiverConfig{Poller: p}})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	req := cl.offerRequest(sipgosip.INVITE, srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"))
	type result struct {
		res *sipgosip.Response
		err error
	}
	answered := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cl.c.Do(ctx, req)
		answered <- result{res, err}
	}()
	// Not an assertion on time: with the worker held, no answer can come
	// however long this waits; without the fix it came at once.
	select {
	case r := <-answered:
		t.Fatalf("answered (%v, %v) while the Poller's worker could not take the streams' sockets", r.res, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	r := <-answered
	if r.err != nil {
		t.Fatal(r.err)
	}
	ans := srsAnswerOf(t, r.res)
	cl.to = sipgosip.HeaderClone(r.res.To()).(*sipgosip.ToHeader)
	ack := cl.request(sipgosip.ACK, "", nil)
	ack.CSeq().SeqNo = req.CSeq().SeqNo
	if err := cl.c.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	k := e.sinks.wait(t)
	tone := srsTone(300, 800)
	legs[0].send(t, ans, 0, 0x21, tone)
	srsEventually(t, "the audio", func() bool { return k.audioSamples("1") >= len(tone) })
	cl.do(cl.request(sipgosip.BYE, "", nil), false)
	k.waitEnd(t)
}

// holdWorker holds the only worker of p: a Receiver of p whose Handler
// waits until release is called (or the test ends).
func holdWorker(t *testing.T, p *media.Poller) (release func()) {
	// Hold the worker: a Receiver of the same Poller whose Handler waits.
	held, hold := make(chan struct{}), make(chan struct{})
	bep := srsListen(t)
	blocker, err := media.NewReceiver(bep, media.ReceiverConfig{Poller: p, LatchPackets: 1, Handler: media.HandlerFuncs{
		Audio: func(media.Audio) {
			select {
			case <-held:
			default:
				close(held)
				<-hold
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	bdone := make(chan error, 1)
	go func() { bdone <- blocker.Run(context.Background()) }()
	released := false
	release = func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(func() {
		release()
		_ = blocker.Close()
		<-bdone
	})
	src := srsListen(t)
	tx, err := media.NewSender(src, blocker.LocalAddr(), media.SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; ; seq++ {
		_ = tx.WritePCM(make([]int16, 160))
		select {
		case <-held:
		case <-time.After(10 * time.Millisecond):
			if seq > 500 {
				t.Fatal("the blocking Receiver got no packet")
			}
			continue
		}
		break
	}

	return release
}

// TestSRSAnswersWhenWorkerStaysHeld: a worker held up for good (a Handler
// that never returns) does not hold INVITEs for as long: after
// Config.ReadyTimeout the answer goes anyway (as before RunReady). Ending
// the session needs the worker (its Receivers leave it), so the BYE comes
// after the release.
func TestSRSAnswersWhenWorkerStaysHeld(t *testing.T) {
	t.Parallel()
	p, err := media.NewPoller(media.PollerConfig{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if !p.Native() {
		t.Skip("the Poller has no workers on this system: each Receiver reads its own socket")
	}
	release := holdWorker(t, p)
	defer release()

	e := newSRSEnv(t, Config{Receiver: media.ReceiverConfig{Poller: p}, ReadyTimeout: 50 * time.Millisecond})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	req := cl.offerRequest(sipgosip.INVITE, srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.c.Do(ctx, req) // the worker is never released before this returns
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE with the worker held for good: %v, %v; want a 200 after ReadyTimeout", res, err)
	}
	cl.to = sipgosip.HeaderClone(res.To()).(*sipgosip.ToHeader)
	ack := cl.request(sipgosip.ACK, "", nil)
	ack.CSeq().SeqNo = req.CSeq().SeqNo
	if err := cl.c.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	release()
	cl.do(cl.request(sipgosip.BYE, "", nil), false)
}
