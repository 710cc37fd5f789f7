package siprec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// FuzzServerInvite hands the Server SIPREC INVITEs with arbitrary bodies and
// Content-Types (the part of a request a client controls that the Server
// parses itself). Properties: exactly one final response, with one of the
// codes Handle documents; a 200 carries application/sdp with as many
// m-lines as the offer and a session; and once the sessions are over, every
// RTP port is back in the pool. Config.OnReject is told of every answer
// but a 200, once, with its code, and of nothing else.
func FuzzServerInvite(f *testing.F) {
	inv := string(srsRawInvite(f, 2, "TCP", "fuzz"))
	i := strings.Index(inv, "\r\n\r\n")
	ctStart := strings.Index(inv, "Content-Type: ") + len("Content-Type: ")
	ct := inv[ctStart : ctStart+strings.Index(inv[ctStart:], "\r\n")]
	body := inv[i+4:]
	f.Add(ct, body)
	f.Add("application/sdp", srsSDP)
	f.Add(ct, strings.ReplaceAll(body, "\r\n", "\n"))
	f.Add(ct, strings.Replace(body, "</recording>", "", 1))
	f.Add("multipart/mixed;boundary=\"sipp-siprec-boundary\"", body)
	f.Add("application/rs-metadata+xml", "<recording xmlns='urn:ietf:params:xml:ns:recording:1'/>")
	f.Add(ct, strings.ReplaceAll(body, "RTP/AVP 0", "RTP/AVP 18"))
	f.Add("text/plain", "hello")
	f.Add("", "")

	pool := srsPool(f, 64)
	var reported []int
	srs, err := NewServer(Config{Ports: pool, Logger: srsDiscard, NoByeOnShutdown: true,
		OnReject: func(_ context.Context, _ *sipgosip.Request, code int, reason string) {
			if reason == "" {
				code = -code // no reason: fails the comparison below
			}
			reported = append(reported, code)
		}})
	if err != nil {
		f.Fatal(err)
	}
	allowed := []int{200, 400, 413, 415, 488, 500, 503}
	n := 0
	f.Fuzz(func(t *testing.T, contentType, body string) {
		if strings.ContainsAny(contentType, "\r\n") {
			return // not a header value
		}
		n++
		callID := fmt.Sprintf("fuzz-%d", n)
		head := inv[:i]
		head = strings.Replace(head, "Call-ID: fuzz", "Call-ID: "+callID, 1)
		head = strings.Replace(head, "Content-Type: "+ct, "Content-Type: "+contentType, 1)
		head = head[:strings.Index(head, "Content-Length: ")] + fmt.Sprintf("Content-Length: %d", len(body))
		msg, err := sipgosip.ParseMessage([]byte(head + "\r\n\r\n" + body))
		if err != nil {
			return // sipgo would not have passed it on
		}
		req := msg.(*sipgosip.Request)
		tx := newSRSFakeTx()
		reported = reported[:0]
		srs.Handle(context.Background(), req, tx)
		codes := tx.codes()
		if len(codes) != 1 || !slices.Contains(allowed, codes[0]) {
			t.Fatalf("responses %v to Content-Type %q", codes, contentType)
		}
		var refusals []int
		if codes[0] != 200 {
			refusals = codes
		}
		if !slices.Equal(reported, refusals) {
			t.Fatalf("answered %v, OnReject told %v", codes, reported)
		}
		if codes[0] != 200 {
			return
		}
		res := tx.last()
		if c := res.ContentType(); c == nil || c.Value() != "application/sdp" {
			t.Fatalf("200 with Content-Type %v", c)
		}
		sessions := srs.Sessions()
		if len(sessions) != 1 {
			t.Fatalf("%d sessions after a 200", len(sessions))
		}
		srs.Handle(context.Background(), srsInDialog(sipgosip.ACK, req, res), newSRSFakeTx())
		bye := newSRSFakeTx()
		srs.Handle(context.Background(), srsInDialog(sipgosip.BYE, req, res), bye)
		if bye.last().StatusCode != 200 || len(srs.Sessions()) != 0 {
			t.Fatal("the BYE did not end the session")
		}
		if pool.InUse() != 0 {
			t.Fatalf("%d ports in use after the BYE", pool.InUse())
		}
	})
}
