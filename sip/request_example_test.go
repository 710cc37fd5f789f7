package sip_test

import (
	"fmt"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// The source of a request: what the transport recorded, or for a request
// parsed locally, its top Via (here an IPv6 one, which sipgo's own
// Request.Source cannot give back as an address).
func ExampleSourceOf() {
	raw := "BYE sip:srs@192.0.2.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1\r\n" +
		"From: <sip:src@example.test>;tag=a\r\nTo: <sip:srs@192.0.2.1>;tag=b\r\n" +
		"Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	msg, err := sipgosip.ParseMessage([]byte(raw))
	if err != nil {
		fmt.Println(err)
		return
	}
	req := msg.(*sipgosip.Request)
	fmt.Println(sip.SourceOf(req), req.Source())

	req.SetSource("[::ffff:203.0.113.7]:5060") // as a dual-stack UDP socket reports an IPv4 peer
	fmt.Println(sip.SourceOf(req))
	// Output:
	// [2001:db8::1]:5070 2001:db8::1:5070
	// 203.0.113.7:5060
}
