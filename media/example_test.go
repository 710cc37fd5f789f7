package media_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/voicegw/voicegw/media"
)

// A SIPREC recording server (SRS) answers a recording client's offer: one
// recvonly line per offered line, labels kept, a port from the pool per
// accepted stream.
func ExampleAnswer() {
	offer, err := media.ParseSDP([]byte("v=0\r\n" +
		"o=SRC 2890844526 2890844526 IN IP4 198.51.100.1\r\n" +
		"s=-\r\n" +
		"c=IN IP4 198.51.100.1\r\n" +
		"t=0 0\r\n" +
		"m=audio 6000 RTP/AVP 8 0 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=ptime:20\r\n" +
		"a=label:1\r\n" +
		"a=sendonly\r\n" +
		"m=audio 6002 RTP/AVP 0\r\n" +
		"a=label:2\r\n" +
		"a=sendonly\r\n"))
	if err != nil {
		fmt.Println("400:", err) // errors.Is(err, media.ErrMalformedSDP)
		return
	}
	answer, err := media.Answer(offer, media.AnswerConfig{
		Address:   netip.MustParseAddr("192.0.2.10"),
		Origin:    media.Origin{Username: "srs", SessionID: 1, SessionVersion: 1},
		Direction: media.RecvOnly,
		Port: func(i int, m *media.Media) (int, error) {
			// A server allocates from its PortPool here:
			//   ep, err := pool.Allocate(); ...; return ep.Port(), nil
			return 20000 + 2*i, nil
		},
	})
	switch {
	case errors.Is(err, media.ErrNoUsableCodec):
		fmt.Println("488:", err)
		return
	case errors.Is(err, media.ErrNoFreePort):
		fmt.Println("503:", err)
		return
	case err != nil:
		fmt.Println("500:", err)
		return
	}
	body, _ := answer.Marshal()
	fmt.Print(strings.ReplaceAll(string(body), "\r\n", "\n"))
	// Output:
	// v=0
	// o=srs 1 1 IN IP4 192.0.2.10
	// s=-
	// c=IN IP4 192.0.2.10
	// t=0 0
	// m=audio 20000 RTP/AVP 8 0 101
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=ptime:20
	// a=label:1
	// a=recvonly
	// m=audio 20002 RTP/AVP 0
	// a=rtpmap:0 PCMU/8000
	// a=label:2
	// a=recvonly
}

// A SIPREC recording client (SRC) offers one sendonly line per forked
// stream, and pauses with a re-offer of the same session marked inactive.
func ExampleSessionDescription_Marshal() {
	offer := &media.SessionDescription{
		Origin:  media.Origin{Username: "src", SessionID: 42, SessionVersion: 1},
		Address: netip.MustParseAddr("192.0.2.20"),
		Media: []media.Media{
			{Type: "audio", Port: 10000, Codecs: media.DefaultCodecs()[:2], PTime: 20 * time.Millisecond, Label: "caller", Direction: media.SendOnly},
			{Type: "audio", Port: 10002, Codecs: media.DefaultCodecs()[:2], PTime: 20 * time.Millisecond, Label: "callee", Direction: media.SendOnly},
		},
	}
	// Pause: same session, next version, every stream inactive.
	offer.Origin.SessionVersion++
	for i := range offer.Media {
		offer.Media[i].Direction = media.Inactive
	}
	body, err := offer.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(body), "\r\n", "\n"))
	// Output:
	// v=0
	// o=src 42 2 IN IP4 192.0.2.20
	// s=-
	// c=IN IP4 192.0.2.20
	// t=0 0
	// m=audio 10000 RTP/AVP 0 8
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:8 PCMA/8000
	// a=ptime:20
	// a=label:caller
	// a=inactive
	// m=audio 10002 RTP/AVP 0 8
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:8 PCMA/8000
	// a=ptime:20
	// a=label:callee
	// a=inactive
}

// The whole media path on loopback: an RTP port, a Receiver with a
// handler, a Sender playing a tone with a DTMF digit, then the statistics.
func ExampleReceiver() {
	// A server allocates from its pool: pool.Allocate(), and answers 503
	// when errors.Is(err, media.ErrNoFreePort). Here, any free loopback port.
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	var samples, gaps int64
	rx, err := media.NewReceiver(ep, media.ReceiverConfig{
		Codecs: media.DefaultCodecs(), // in a server: the answer's Media[i].Codecs
		Handler: media.HandlerFuncs{
			Audio: func(a media.Audio) {
				// a.PCM is valid only during the call: copy or write it out.
				samples += int64(len(a.PCM))
			},
			Gap: func(g media.Gap) {
				fmt.Printf("gap at %d: %d samples (%s)\n", g.Position, g.Samples, g.Reason)
				gaps += g.Samples
			},
			DTMF: func(d media.DTMF) {
				fmt.Printf("DTMF %c at %d for %v\n", d.Digit, d.Position, d.Duration())
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()

	// The far end: a Sender on its own endpoint, sending to ours.
	src, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	tx, err := media.NewSender(src, rx.LocalAddr(), media.SenderConfig{}) // PCMU, 20 ms
	if err != nil {
		fmt.Println(err)
		return
	}
	pcm := make([]int16, 800) // 100 ms of 440 Hz
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/media.SampleRate))
	}
	_ = tx.WritePCM(pcm)                        // 5 packets
	_ = tx.WriteDTMF('5', 100*time.Millisecond) // 7 packets (3 end packets)
	_ = tx.WritePCM(pcm)                        // 5 packets

	for deadline := time.Now().Add(5 * time.Second); rx.Stats().Received < 17 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	_ = rx.Close() // stops Run, delivers what is pending, frees the port
	<-done
	st := rx.Stats()
	fmt.Printf("samples %d, gaps %d, timeline %v\n", samples, gaps, media.SamplesToDuration(samples+gaps))
	fmt.Printf("received %d, lost %d, duplicates %d, DTMF %d\n", st.Received, st.Lost, st.Duplicates, st.DTMFEvents)
	// Output:
	// DTMF 5 at 800 for 100ms
	// gap at 800: 800 samples (silence)
	// samples 1600, gaps 800, timeline 300ms
	// received 17, lost 0, duplicates 0, DTMF 1
}

// A server receiving many streams runs their Receivers on one Poller: a few
// workers (one per core by default) read every socket and call the
// Handlers, instead of a goroutine woken for each packet. The Receivers are
// used as without it.
func ExamplePoller() {
	poller, err := media.NewPoller(media.PollerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer poller.Close() // after the Receivers

	const streams = 3
	var mu sync.Mutex
	samples := map[int]int{}
	var rxs []*media.Receiver
	var runs sync.WaitGroup
	for i := range streams {
		ep, err := media.Listen(netip.MustParseAddr("127.0.0.1")) // in a server: pool.Allocate()
		if err != nil {
			fmt.Println(err)
			return
		}
		rx, err := media.NewReceiver(ep, media.ReceiverConfig{
			Poller: poller,
			// Called on a worker of the Poller, serially for one stream,
			// concurrently with other streams on other workers: quick, and
			// synchronized.
			Handler: media.HandlerFuncs{Audio: func(a media.Audio) {
				mu.Lock()
				samples[i] += len(a.PCM)
				mu.Unlock()
			}},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		rxs = append(rxs, rx)
		runs.Add(1)
		go func() { defer runs.Done(); _ = rx.Run(context.Background()) }()
	}

	src, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	for _, rx := range rxs {
		tx, _ := media.NewSender(src, rx.LocalAddr(), media.SenderConfig{})
		_ = tx.WritePCM(make([]int16, 800)) // 5 packets of 20 ms
	}
	for _, rx := range rxs {
		for deadline := time.Now().Add(5 * time.Second); rx.Stats().Received < 5 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		_ = rx.Close()
	}
	runs.Wait()
	for i := range streams {
		fmt.Printf("stream %d: %d samples\n", i, samples[i])
	}
	// Output:
	// stream 0: 800 samples
	// stream 1: 800 samples
	// stream 2: 800 samples
}

// A server's RTP ports come from a pool over a configured range: even RTP
// ports, each with its RTCP port reserved. (Not run: tests here never bind
// fixed ports.)
func ExamplePortPool() {
	pool, err := media.NewPortPool(media.PortPoolConfig{
		Address: netip.MustParseAddr("127.0.0.1"),
		MinPort: 30000,
		MaxPort: 39999,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pool.Size(), "RTP/RTCP pairs")
	ep, err := pool.Allocate()
	if errors.Is(err, media.ErrNoFreePort) {
		fmt.Println("answer 503:", err)
		return
	}
	defer ep.Close() // or hand it to NewReceiver, whose Close closes it
	fmt.Println("m=audio", ep.Port(), "RTP/AVP 0 8 101; in use:", pool.InUse())
}

// Telephone events are wire types with the pion method set.
func ExampleTelephoneEvent() {
	ev := media.TelephoneEvent{Event: 11, End: true, Volume: 10, Duration: 800}
	buf := make([]byte, ev.MarshalSize())
	n, _ := ev.MarshalTo(buf)
	fmt.Printf("% x\n", buf[:n])
	var back media.TelephoneEvent
	_ = back.Unmarshal(buf)
	fmt.Printf("%c end=%v %d samples\n", media.EventDigit(back.Event), back.End, back.Duration)
	// Output:
	// 0b 8a 03 20
	// # end=true 800 samples
}

// A Receiver that answered an SDP offer takes RTP only from the address the
// offer gave (Remote): a stranger who sends to the port first, from another
// address or port, is dropped and counted, and the offer's sender latches.
func ExampleLatching() {
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1")) // in a server: pool.Allocate()
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := media.Listen(netip.MustParseAddr("127.0.0.1")) // the sender the SDP offer names
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	stranger, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stranger.Close()

	rx, err := media.NewReceiver(ep, media.ReceiverConfig{
		Remote:   src.LocalAddr(),   // the offer's Media[i].RTPAddr()
		Latching: media.LatchStrict, // the default; media.LatchRelaxed for NATed senders (set Signalling)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = rx.Run(context.Background()) }()
	wait := func(cond func(media.Stats) bool) {
		for deadline := time.Now().Add(5 * time.Second); !cond(rx.Stats()) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	spoof, _ := media.NewSender(stranger, rx.LocalAddr(), media.SenderConfig{})
	_ = spoof.WritePCM(make([]int16, 1600)) // 10 packets, first
	wait(func(st media.Stats) bool { return st.Strangers == 10 })
	tx, _ := media.NewSender(src, rx.LocalAddr(), media.SenderConfig{})
	_ = tx.WritePCM(make([]int16, 800)) // 5 packets
	wait(func(st media.Stats) bool { return st.Received == 5 })
	// A re-INVITE that moves the sender: rx.SetRemote(newOffer.Media[i].RTPAddr()).
	_ = rx.Close()

	st := rx.Stats()
	fmt.Println("latched the offer's address:", st.Source == src.LocalAddr())
	fmt.Println("received", st.Received, "dropped from strangers", st.Strangers)
	// Output:
	// latched the offer's address: true
	// received 5 dropped from strangers 10
}

// A server that answers an offer starts the stream's Receiver first and
// gives its port to the peer once the Receiver reads its socket (with a
// Poller: once a worker has it, and its port is steered), so that nothing
// the peer sends waits in a socket that nothing reads yet.
func ExampleReceiver_RunReady() {
	poller, err := media.NewPoller(media.PollerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer poller.Close()
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1")) // in a server: pool.Allocate()
	if err != nil {
		fmt.Println(err)
		return
	}
	rx, err := media.NewReceiver(ep, media.ReceiverConfig{Poller: poller})
	if err != nil {
		fmt.Println(err)
		return
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- rx.RunReady(context.Background(), func() { close(ready) }) }()
	<-ready
	// Now send the answer with m=audio rx.LocalAddr().Port() ...
	fmt.Println("answer: port given once the socket is read")
	_ = rx.Close()
	fmt.Println("Run:", <-done)
	// Output:
	// answer: port given once the socket is read
	// Run: <nil>
}
