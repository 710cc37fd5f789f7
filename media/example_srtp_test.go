package media_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/voicegw/voicegw/media"
)

// keeper is a PacketWriter that remembers the last packet it sent, so the
// example can replay it and forge one like it.
type keeper struct {
	ep   *media.Endpoint
	last []byte
}

func (k *keeper) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	k.last = append(k.last[:0], b...)
	return k.ep.WriteToUDPAddrPort(b, to)
}

// SRTP keyed by SDES, both sides: a recording client (SRC) offers RTP/SAVP
// with a=crypto lines, a recording server (SRS) answers with its own key
// for the first suite it supports, and the client's Sender encrypts to the
// server's Receiver, which decrypts. A replayed and a forged packet are
// dropped and counted. The SDP bodies carry the keys: in a real call they
// travel only over TLS (SIPS).
func Example_srtp() {
	loopback := netip.MustParseAddr("127.0.0.1")

	// The SRC's offer: one sendonly stream, two suites with a key each.
	lines, err := media.OfferCrypto() // AES_CM_128_HMAC_SHA1_80, then _32
	if err != nil {
		fmt.Println(err)
		return
	}
	offer := &media.SessionDescription{Address: loopback, Media: []media.Media{{
		Type: "audio", Port: 6000, Protocol: media.ProtoSRTP, Codecs: media.DefaultCodecs(),
		Label: "1", Direction: media.SendOnly, Crypto: lines,
	}}}
	offerBody, _ := offer.Marshal() // INVITE body, over TLS

	// The SRS answers and receives.
	ep, err := media.Listen(loopback) // a server: pool.Allocate()
	if err != nil {
		fmt.Println(err)
		return
	}
	received, _ := media.ParseSDP(offerBody)
	answer, err := media.Answer(received, media.AnswerConfig{
		Address: loopback, Direction: media.RecvOnly,
		SDES: &media.SDESConfig{Require: true}, // a clear offer: 488 (ErrSRTPRequired)
		Port: func(int, *media.Media) (int, error) { return ep.Port(), nil },
	})
	if err != nil {
		fmt.Println("488:", err) // ErrNoUsableCodec, ErrUnsupportedCrypto
		return
	}
	keys, err := media.NegotiatedSDES(&received.Media[0], &answer.Media[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("answer:", answer.Media[0].Protocol, answer.Media[0].Crypto[0]) // printing never shows a key
	rxSRTP, err := media.NewSRTPContext(keys.Offer, media.SRTPConfig{})         // the SRC's key
	if err != nil {
		fmt.Println(err)
		return
	}
	var samples int
	rx, err := media.NewReceiver(ep, media.ReceiverConfig{
		Codecs:  answer.Media[0].Codecs,
		SRTP:    rxSRTP,
		Handler: media.HandlerFuncs{Audio: func(a media.Audio) { samples += len(a.PCM) }},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()
	answerBody, _ := answer.Marshal() // 200 OK body, over TLS

	// The SRC checks the answer and sends with its own key.
	reply, _ := media.ParseSDP(answerBody)
	mine, err := media.NegotiatedSDES(&offer.Media[0], &reply.Media[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	txSRTP, err := media.NewSRTPContext(mine.Offer, media.SRTPConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := media.Listen(loopback)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	out := &keeper{ep: src}
	tx, err := media.NewSender(out, reply.Media[0].RTPAddr(), media.SenderConfig{SRTP: txSRTP})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = tx.WritePCM(make([]int16, 800)) // 5 packets of 20 ms

	// Someone on the path replays the last packet, and injects one with
	// the next sequence number and a tag they could not compute.
	replayed := bytes.Clone(out.last)
	forged := bytes.Clone(out.last)
	forged[3]++
	_, _ = src.WriteToUDPAddrPort(replayed, reply.Media[0].RTPAddr())
	_, _ = src.WriteToUDPAddrPort(forged, reply.Media[0].RTPAddr())

	for deadline := time.Now().Add(5 * time.Second); rx.Stats().Datagrams < 7 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	_ = rx.Close()
	<-done
	st := rx.Stats()
	fmt.Printf("received %d packets, %d samples; dropped: %d replayed, %d forged\n", st.Received, samples, st.Replayed, st.AuthFailures)
	// Output:
	// answer: RTP/SAVP 1 AES_CM_128_HMAC_SHA1_80 inline:[REDACTED]
	// received 5 packets, 800 samples; dropped: 1 replayed, 1 forged
}
